import type { RemoteDigest } from "./asset-content.js";
import type { LocalAsset } from "./local-assets.js";
import type { ReleaseAsset } from "./release.js";

/**
 * Step of publishing one local asset:
 * - `skip`: the release already has it with the same size and SHA-256;
 * - `upload`: the release has no asset of that name;
 * - `replace`: the release's asset is incomplete (an upload that failed),
 *   or differs and --replace was given, so it is deleted first;
 * - `conflict`: the release's asset differs and --replace was not given.
 */
export type AssetStep =
  | { action: "skip"; local: LocalAsset; remote: ReleaseAsset; digestSource: RemoteDigest["source"] }
  | { action: "upload"; local: LocalAsset }
  | { action: "replace"; local: LocalAsset; remote: ReleaseAsset; reason: "incomplete" | "different" }
  | { action: "conflict"; local: LocalAsset; remote: ReleaseAsset; difference: string };

/** Returns the SHA-256 of an uploaded asset; called only when sizes match. */
export type RemoteDigestReader = (asset: ReleaseAsset) => Promise<RemoteDigest>;

/** Compares the local assets with the release's, one step per local asset. */
export async function planAssetSteps(
  locals: readonly LocalAsset[],
  remotes: readonly ReleaseAsset[],
  options: { replace: boolean; readDigest: RemoteDigestReader },
): Promise<AssetStep[]> {
  const byName = new Map(remotes.map((remote) => [remote.name, remote]));
  const steps: AssetStep[] = [];

  for (const local of locals) {
    const remote = byName.get(local.name);
    if (remote === undefined) {
      steps.push({ action: "upload", local });
      continue;
    }
    // The API description gives "uploaded" and "open"; GitHub also reports
    // "starter" for an upload that failed. Only "uploaded" is complete.
    if (remote.state !== "uploaded") {
      steps.push({ action: "replace", local, remote, reason: "incomplete" });
      continue;
    }

    const comparison = await compareContent(local, remote, options.readDigest);
    if (comparison.same) {
      steps.push({ action: "skip", local, remote, digestSource: comparison.digestSource });
    } else if (options.replace) {
      steps.push({ action: "replace", local, remote, reason: "different" });
    } else {
      steps.push({ action: "conflict", local, remote, difference: comparison.difference });
    }
  }
  return steps;
}

type Comparison =
  | { same: true; digestSource: RemoteDigest["source"] }
  | { same: false; difference: string };

async function compareContent(
  local: LocalAsset,
  remote: ReleaseAsset,
  readDigest: RemoteDigestReader,
): Promise<Comparison> {
  if (remote.size !== local.size) {
    return { same: false, difference: `size ${remote.size} on GitHub, ${local.size} here` };
  }
  const { sha256, source } = await readDigest(remote);
  if (sha256 !== local.sha256) {
    return { same: false, difference: `sha256:${sha256} on GitHub, sha256:${local.sha256} here` };
  }
  return { same: true, digestSource: source };
}
