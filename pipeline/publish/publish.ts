import { pino, type Logger } from "pino";
import { remoteSha256 } from "./asset-content.js";
import { planAssetSteps, type AssetStep } from "./asset-plan.js";
import { createGitHubClient, type GitHubClient, type GitHubClientOptions } from "./client.js";
import { PublishError } from "./errors.js";
import { collectLocalRelease, type AssetRole, type LocalRelease } from "./local-assets.js";
import {
  deleteReleaseAsset,
  findOrCreateRelease,
  listReleaseAssets,
  parseRepository,
  type Release,
  type RepositoryName,
} from "./release.js";
import { uploadAsset, type UploadOptions } from "./upload.js";

/** Checks an output folder before anything is published; raises when it does not verify. */
export type FolderVerifier = (folder: LocalRelease) => Promise<void>;

export interface PublishOptions {
  /** "OWNER/NAME". */
  repo: string;
  tag: string;
  /** Output folder of `migtd-repro build` after `migtd-repro attest`. */
  dir: string;
  /** Image file name, when the folder contains several builds. */
  name?: string;
  /** Create the release as a draft when it does not exist yet. */
  draft?: boolean;
  /** Replace assets whose content differs instead of failing. */
  replace?: boolean;
  /** Runs before any request to GitHub; nothing unverified is published. */
  verifyFolder: FolderVerifier;
  /** GitHub token; publishing without one fails with token-missing. */
  token: string | undefined;
  /** Client settings other than the token (API URL, retries, rate limits). */
  client?: Omit<GitHubClientOptions, "token" | "logger">;
  logger?: Logger;
  /** Upload attempts per asset, the first included; default 4, so 3 retries as for other requests. */
  uploadAttempts?: number;
}

/** Outcome of publishing one asset. */
export interface AssetOutcome {
  name: string;
  role: AssetRole;
  action: "uploaded" | "replaced" | "skipped";
  size: number;
  sha256: string;
  contentType: string;
  /** For skipped assets: how the remote SHA-256 was obtained. */
  digestSource?: "api" | "download";
  url: string;
}

export interface PublishResult {
  repo: string;
  tag: string;
  release: { id: number; url: string; draft: boolean; created: boolean };
  assets: AssetOutcome[];
}

/**
 * Publishes a build's output folder as assets of the release for a tag:
 * verifies the folder, finds or creates the release, compares each asset
 * with what the release already has, and uploads what is missing. Running
 * it again after a failure converges: complete identical assets are
 * skipped and incomplete ones replaced. Differing assets are reported
 * together before anything is uploaded, unless `replace` is set.
 */
export async function publishRelease(options: PublishOptions): Promise<PublishResult> {
  const logger = options.logger ?? pino({ level: "silent" });
  const repository = parseRepository(options.repo);
  const token = requireToken(options.token, repository);

  const folder = await collectLocalRelease(options.dir, options.name);
  await options.verifyFolder(folder);
  logger.info({ dir: options.dir, image: folder.imageName }, "output folder verified");

  const client = createGitHubClient({ ...options.client, token, logger });
  const { release, created } = await findOrCreateRelease(client, repository, options.tag, options.draft ?? false);
  logger.info({ release: release.id, tag: options.tag, created }, created ? "release created" : "release found");

  const steps = await planSteps(client, repository, release, folder, options.replace ?? false);
  checkConflicts(repository, release, steps);
  checkImmutable(repository, release, steps);

  const session: Session = {
    client,
    repository,
    release,
    upload: { logger, attempts: options.uploadAttempts ?? 4, retryUnitMs: options.client?.retryUnitMs ?? 1000 },
  };
  const assets: AssetOutcome[] = [];
  for (const step of steps) {
    assets.push(await applyStep(session, step));
  }

  return {
    repo: repository.full,
    tag: options.tag,
    release: { id: release.id, url: release.html_url, draft: release.draft, created },
    assets,
  };
}

function requireToken(token: string | undefined, repository: RepositoryName): string {
  if (token === undefined || token === "") {
    throw new PublishError(
      "token-missing",
      `no GitHub token: set GITHUB_TOKEN or GH_TOKEN to a token with "contents: write" permission on ${repository.full}`,
    );
  }
  return token;
}

async function planSteps(
  client: GitHubClient,
  repository: RepositoryName,
  release: Release,
  folder: LocalRelease,
  replace: boolean,
): Promise<AssetStep[]> {
  const remotes = await listReleaseAssets(client, repository, release);
  return planAssetSteps(folder.assets, remotes, {
    replace,
    readDigest: (asset) => remoteSha256(client, repository, asset),
  });
}

function checkConflicts(repository: RepositoryName, release: Release, steps: AssetStep[]): void {
  const conflicts = steps.flatMap((step) =>
    step.action === "conflict" ? [`${step.local.name} (${step.difference})`] : [],
  );
  if (conflicts.length === 0) return;

  throw new PublishError(
    "asset-conflict",
    `release ${release.tag_name} of ${repository.full} already has different ${conflicts.join("; ")}; nothing was uploaded. Publish to a new tag, or pass --replace to overwrite`,
  );
}

function checkImmutable(repository: RepositoryName, release: Release, steps: AssetStep[]): void {
  const changes = steps.filter((step) => step.action !== "skip");
  if (release.immutable !== true || changes.length === 0) return;

  throw new PublishError(
    "release-immutable",
    `release ${release.tag_name} of ${repository.full} is immutable, so ${changes.map((step) => step.local.name).join(", ")} cannot be attached; publish to a new tag with --draft, then publish the draft once every asset is attached`,
  );
}

/** The release being published to, and how to reach it. */
interface Session {
  client: GitHubClient;
  repository: RepositoryName;
  release: Release;
  upload: UploadOptions;
}

async function applyStep(session: Session, step: AssetStep): Promise<AssetOutcome> {
  const { client, repository, release } = session;
  const logger = session.upload.logger;
  const { local } = step;
  const described = { name: local.name, role: local.role, size: local.size, sha256: local.sha256, contentType: local.contentType };

  if (step.action === "skip") {
    logger.info({ asset: local.name, digestSource: step.digestSource }, "asset already published");
    return { ...described, action: "skipped", digestSource: step.digestSource, url: step.remote.browser_download_url };
  }
  if (step.action === "conflict") {
    throw new Error(`conflict step for ${local.name} reached upload`);
  }

  if (step.action === "replace") {
    logger.info({ asset: local.name, reason: step.reason }, "deleting the release's copy of the asset");
    await deleteReleaseAsset(client, repository, step.remote);
  }
  const uploaded = await uploadAsset(client, repository, release, local, session.upload);
  logger.info({ asset: local.name, size: local.size }, "asset uploaded");
  return { ...described, action: step.action === "replace" ? "replaced" : "uploaded", url: uploaded.browser_download_url };
}
