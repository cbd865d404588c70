import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino, type Logger } from "pino";
import { downloadAssetToFile } from "./asset-content.js";
import { createGitHubClient, type GitHubClientOptions } from "./client.js";
import { PublishError } from "./errors.js";
import {
  ATTESTATION_SUFFIX,
  CHECKSUM_FILES,
  imageStem,
  isDescriptionFile,
  sideFileNames,
} from "./output-files.js";
import {
  findRelease,
  listReleaseAssets,
  parseRepository,
  type ReleaseAsset,
  type RepositoryName,
} from "./release.js";

export interface DownloadOptions {
  /** "OWNER/NAME". */
  repo: string;
  tag: string;
  /** Image asset name; when absent, the one image with a NAME.intoto.jsonl beside it. */
  asset?: string;
  /** Existing folder the files are written to. */
  dir: string;
  /** REST API root; default https://api.github.com. */
  apiUrl?: string;
  /** Optional for public repositories, whose releases anyone may read. */
  token?: string;
  logger?: Logger;
  /** Client settings other than token, API URL and logger. */
  client?: Omit<GitHubClientOptions, "token" | "apiUrl" | "logger">;
}

/** Local paths of the downloaded release files. */
export interface DownloadedRelease {
  image: string;
  /** NAME.intoto.jsonl: DSSE envelopes, one per line. */
  attestation: string;
  /** Present when the release has them. */
  buildRecord?: string;
  servtdInfoHash?: string;
  checksums: string[];
  /** Release page, for messages. */
  releaseUrl: string;
}

/**
 * Downloads a release's image and the files beside it (attestations,
 * build record, SERVTD_INFO_HASH, checksum lists) into `dir`, checking each
 * download against the size and digest GitHub lists. It verifies nothing
 * else: the caller verifies the downloaded files.
 */
export async function downloadReleaseAssets(options: DownloadOptions): Promise<DownloadedRelease> {
  const logger = options.logger ?? pino({ level: "silent" });
  const repository = parseRepository(options.repo);
  const client = createGitHubClient({ ...options.client, token: options.token, apiUrl: options.apiUrl, logger });

  const release = await findRelease(client, repository, options.tag);
  if (release === undefined) {
    throw new PublishError(
      "release-not-found",
      `${repository.full} has no release for tag ${options.tag}${options.token ? "" : " (without a token, draft releases and private repositories are invisible)"}`,
    );
  }

  const assets = await listReleaseAssets(client, repository, release);
  const byName = new Map(assets.filter((asset) => asset.state === "uploaded").map((asset) => [asset.name, asset]));
  const imageName = options.asset ?? pickImage(repository, options.tag, byName);

  const fetchAsset = async (name: string): Promise<string> => {
    const path = join(options.dir, name);
    await downloadAssetToFile(client, repository, byName.get(name)!, path);
    logger.info({ asset: name, path }, "release asset downloaded");
    return path;
  };
  const fetchIfPresent = (name: string): Promise<string | undefined> =>
    byName.has(name) ? fetchAsset(name) : Promise.resolve(undefined);

  const side = sideFileNames(imageName);
  requireAssets(repository, options.tag, byName, [imageName, side.attestation]);
  await mkdir(options.dir, { recursive: true });

  const image = await fetchAsset(imageName);
  const attestation = await fetchAsset(side.attestation);
  const buildRecord = await fetchIfPresent(side.buildRecord);
  const servtdInfoHash = await fetchIfPresent(side.servtdInfoHash);
  const checksums: string[] = [];
  for (const name of CHECKSUM_FILES) {
    const path = await fetchIfPresent(name);
    if (path !== undefined) checksums.push(path);
  }

  return { image, attestation, buildRecord, servtdInfoHash, checksums, releaseUrl: release.html_url };
}

/** Picks the one image that has a NAME.intoto.jsonl: an asset NAME.EXT that is not itself a description file. */
/**
 * Downloads a release's files into a new temporary folder, passes them to
 * `use`, and removes the folder afterwards, also when `use` throws.
 */
export async function withDownloadedRelease<T>(
  options: Omit<DownloadOptions, "dir">,
  use: (files: DownloadedRelease) => Promise<T>,
): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), "migtd-repro-release-"));
  try {
    return await use(await downloadReleaseAssets({ ...options, dir }));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function pickImage(repository: RepositoryName, tag: string, byName: Map<string, ReleaseAsset>): string {
  const names = [...byName.keys()];
  const attested = new Set(
    names.filter((name) => name.endsWith(ATTESTATION_SUFFIX)).map((name) => name.slice(0, -ATTESTATION_SUFFIX.length)),
  );
  const images = names.filter((name) => !isDescriptionFile(name) && attested.has(imageStem(name))).sort();

  if (images.length === 1) return images[0]!;
  if (images.length === 0) {
    throw new PublishError(
      "asset-not-found",
      `release ${tag} of ${repository.full} has no image with a NAME${ATTESTATION_SUFFIX} beside it; assets: ${names.join(", ") || "none"}`,
    );
  }
  throw new PublishError(
    "asset-not-found",
    `release ${tag} of ${repository.full} has ${images.length} attested images (${images.join(", ")}); name one as ASSET`,
  );
}

function requireAssets(
  repository: RepositoryName,
  tag: string,
  byName: Map<string, ReleaseAsset>,
  names: string[],
): void {
  const missing = names.filter((name) => !byName.has(name));
  if (missing.length === 0) return;
  throw new PublishError(
    "asset-not-found",
    `release ${tag} of ${repository.full} has no ${missing.join(" or ")}; assets: ${[...byName.keys()].join(", ") || "none"}`,
  );
}
