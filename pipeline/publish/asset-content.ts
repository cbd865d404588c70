import { createHash, randomBytes } from "node:crypto";
import { createWriteStream } from "node:fs";
import { rename, rm } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { Readable, Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { GitHubClient } from "./client.js";
import { PublishError } from "./errors.js";
import type { ReleaseAsset, RepositoryName } from "./release.js";
import { toPublishError } from "./request-errors.js";

/** SHA-256 of an uploaded asset and where it came from. */
export interface RemoteDigest {
  /** Lowercase hex. */
  sha256: string;
  /** "api" when GitHub's `digest` field gave it, "download" when the asset was hashed. */
  source: "api" | "download";
}

/**
 * Returns the SHA-256 of an uploaded asset. GitHub's release-asset object
 * carries `digest` ("sha256:HEX") for assets uploaded since it started
 * computing them; older assets have `digest: null`, which the API
 * description allows. For those the asset is downloaded and hashed: exact,
 * at the cost of one download per such asset.
 */
export async function remoteSha256(
  client: GitHubClient,
  repository: RepositoryName,
  asset: ReleaseAsset,
): Promise<RemoteDigest> {
  const fromApi = sha256FromDigestField(asset.digest);
  if (fromApi !== undefined) return { sha256: fromApi, source: "api" };

  const hash = createHash("sha256");
  const body = await openAssetStream(client, repository, asset);
  try {
    for await (const chunk of body) hash.update(chunk as Buffer);
  } catch (error) {
    throw interruptedDownload(repository, asset, error);
  }
  return { sha256: hash.digest("hex"), source: "download" };
}

/** Returns the hex SHA-256 of a "sha256:HEX" digest, or undefined for null or another algorithm. */
export function sha256FromDigestField(digest: string | null | undefined): string | undefined {
  const match = /^sha256:([0-9a-fA-F]{64})$/.exec(digest ?? "");
  return match === null ? undefined : match[1]!.toLowerCase();
}

/**
 * Downloads an asset to `path` through a temporary file in the same folder,
 * checking the size and, when GitHub gives one, the SHA-256 digest. Returns
 * the SHA-256 of what was written.
 */
export async function downloadAssetToFile(
  client: GitHubClient,
  repository: RepositoryName,
  asset: ReleaseAsset,
  path: string,
): Promise<string> {
  const body = await openAssetStream(client, repository, asset);
  const hash = createHash("sha256");
  let size = 0;
  const measure = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      hash.update(chunk);
      size += chunk.length;
      callback(null, chunk);
    },
  });

  let bodyError: unknown;
  body.once("error", (error) => {
    bodyError = error;
  });

  const temporary = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString("hex")}.tmp`);
  try {
    await pipeline(body, measure, createWriteStream(temporary, { flags: "wx" }));
    const sha256 = hash.digest("hex");
    checkDownload(repository, asset, size, sha256);
    await rename(temporary, path);
    return sha256;
  } catch (error) {
    await rm(temporary, { force: true });
    throw bodyError === undefined ? error : interruptedDownload(repository, asset, bodyError);
  }
}

function interruptedDownload(repository: RepositoryName, asset: ReleaseAsset, error: unknown): PublishError {
  const reason = error instanceof Error ? error.message : String(error);
  return new PublishError(
    "network",
    `download of release asset ${asset.name} of ${repository.full} was interrupted (${reason}); run again`,
    { cause: error },
  );
}

function checkDownload(repository: RepositoryName, asset: ReleaseAsset, size: number, sha256: string): void {
  if (size !== asset.size) {
    throw new PublishError(
      "digest-mismatch",
      `release asset ${asset.name} of ${repository.full} downloaded as ${size} bytes, but GitHub lists ${asset.size}; download it again`,
    );
  }
  const expected = sha256FromDigestField(asset.digest);
  if (expected !== undefined && expected !== sha256) {
    throw new PublishError(
      "digest-mismatch",
      `release asset ${asset.name} of ${repository.full} downloaded with SHA-256 ${sha256}, but GitHub lists ${asset.digest}`,
    );
  }
}

/**
 * Requests an asset's content. With Accept: application/octet-stream the
 * API either sends the bytes or redirects to a storage host. fetch follows
 * the redirect and drops the Authorization header, because that host is
 * another origin.
 */
async function openAssetStream(
  client: GitHubClient,
  repository: RepositoryName,
  asset: ReleaseAsset,
): Promise<Readable> {
  try {
    const response = await client.request("GET /repos/{owner}/{repo}/releases/assets/{asset_id}", {
      owner: repository.owner,
      repo: repository.repo,
      asset_id: asset.id,
      headers: { accept: "application/octet-stream" },
      request: { parseSuccessResponseBody: false },
    });
    const body = response.data as unknown as ReadableStream<Uint8Array> | null;
    if (body === null) return Readable.from([]);
    return Readable.fromWeb(body as import("node:stream/web").ReadableStream<Uint8Array>);
  } catch (error) {
    throw toPublishError(error, {
      repo: repository.full,
      action: `download release asset ${asset.name}`,
      permission: "contents: read",
    });
  }
}
