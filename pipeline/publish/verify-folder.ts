import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import type { PublicKey } from "../../attest/keys.js";
import { verifyAttestation, type CheckResult } from "../../attest/verify.js";
import { PublishError } from "./errors.js";
import type { LocalAsset, LocalRelease } from "./local-assets.js";
import type { FolderVerifier } from "./publish.js";

/** Keys the attestations must be signed with. */
export interface TrustedKeySet {
  keys: readonly PublicKey[];
  /** Locations searched for keys, named in the message when there are none. */
  hint?: string;
}

/**
 * Returns the check `publish` runs before uploading: the attestation
 * verification `migtd-repro verify` runs (signatures by a trusted key,
 * subject digests, recomputed measurements), with NAME.servtd_info_hash as
 * the expected SERVTD_INFO_HASH, and every checksum list matching the files
 * it names.
 */
export function attestationVerifier(trusted: TrustedKeySet): FolderVerifier {
  return async (folder) => {
    const failures = [...(await verifyImage(folder, trusted)), ...(await verifyChecksumLists(folder))];
    if (failures.length > 0) {
      throw new PublishError(
        "folder-unverified",
        `${folder.dir} does not verify, so nothing was published: ${failures.join("; ")}`,
      );
    }
  };
}

async function verifyImage(folder: LocalRelease, trusted: TrustedKeySet): Promise<string[]> {
  const image = assetOf(folder, "image");
  const attestations = assetOf(folder, "attestations");
  const servtdInfoHash = assetOf(folder, "servtd-info-hash");

  const report = await verifyAttestation({
    image: await readAsHashed(image),
    imageName: image.name,
    attestation: (await readAsHashed(attestations)).toString("utf8"),
    attestationName: attestations.name,
    trustedKeys: trusted.keys,
    trustedKeysHint: trusted.hint,
    expectServtdInfoHash: parseServtdInfoHash(await readAsHashed(servtdInfoHash), servtdInfoHash.name),
  });
  if (report.verified) return [];
  return report.checks.filter((check) => check.status === "fail").map(describeFailure);
}

/**
 * Reads an asset and checks it still has the SHA-256 it had when the folder
 * was collected, which is the digest the upload checks too: the verified
 * bytes are the published bytes.
 */
async function readAsHashed(asset: LocalAsset): Promise<Buffer> {
  const bytes = await readFile(asset.path);
  if (createHash("sha256").update(bytes).digest("hex") !== asset.sha256) {
    throw new PublishError("folder-invalid", `${asset.path} changed while the folder was being verified; publish again`);
  }
  return bytes;
}

function describeFailure(check: CheckResult): string {
  const detail = check.details[0];
  return detail === undefined ? `${check.code}: ${check.summary}` : `${check.code}: ${check.summary} (${detail})`;
}

/** Reads SERVTD_INFO_HASH as 96 hex digits (what `attest` writes) or as the 48 raw bytes `migtd-hash -o` writes. */
function parseServtdInfoHash(bytes: Buffer, name: string): string {
  if (bytes.length === 48) return bytes.toString("hex");
  const text = bytes.toString("utf8").trim().toLowerCase();
  if (!/^[0-9a-f]{96}$/.test(text)) {
    throw new PublishError(
      "folder-invalid",
      `${name} is neither 96 hex digits nor 48 bytes; run 'migtd-repro attest' again to rewrite it`,
    );
  }
  return text;
}

/**
 * Checks each checksum list in `sha256sum` format ("HEX  NAME" per line):
 * every line names a file in the folder with that digest, and every other
 * published asset is listed.
 */
async function verifyChecksumLists(folder: LocalRelease): Promise<string[]> {
  const failures: string[] = [];
  const byName = new Map(folder.assets.map((asset) => [asset.name, asset]));

  for (const list of folder.assets.filter((asset) => asset.role === "checksums")) {
    const algorithm = /^SHA(\d+)SUMS$/.exec(list.name)![1]!;
    const listed = new Set<string>();
    const lines = (await readAsHashed(list)).toString("utf8").split("\n").filter((line) => line !== "");

    for (const line of lines) {
      const match = /^([0-9a-f]+) [ *](.+)$/.exec(line);
      if (match === null) {
        failures.push(`${list.name} has a line that is not 'HEX  NAME': ${JSON.stringify(line.slice(0, 80))}`);
        continue;
      }
      const [, digest, file] = match as unknown as [string, string, string];
      listed.add(file);
      const actual = await digestOf(folder, byName.get(file), file, `sha${algorithm}`);
      if (actual === undefined) failures.push(`${list.name} lists ${file}, which is not in the folder`);
      else if (actual !== digest) failures.push(`${list.name} gives ${file} digest ${digest}, but the file has ${actual}`);
    }

    for (const asset of folder.assets) {
      if (asset.role !== "checksums" && !listed.has(asset.name)) {
        failures.push(`${list.name} does not list ${asset.name}`);
      }
    }
  }
  return failures;
}

async function digestOf(
  folder: LocalRelease,
  asset: LocalAsset | undefined,
  file: string,
  algorithm: string,
): Promise<string | undefined> {
  if (asset !== undefined) {
    return algorithm === "sha256" ? asset.sha256 : createHash(algorithm).update(await readAsHashed(asset)).digest("hex");
  }
  // A checksum list names files in its own folder only.
  if (file.includes("/")) return undefined;
  try {
    return createHash(algorithm).update(await readFile(join(folder.dir, file))).digest("hex");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw error;
  }
}

function assetOf(folder: LocalRelease, role: LocalAsset["role"]): LocalAsset {
  return folder.assets.find((asset) => asset.role === role)!;
}
