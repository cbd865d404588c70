import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { setTimeout as sleep } from "node:timers/promises";
import { RequestError } from "octokit";
import type { Logger } from "pino";
import type { GitHubClient } from "./client.js";
import { sha256FromDigestField } from "./asset-content.js";
import { PublishError } from "./errors.js";
import type { LocalAsset } from "./local-assets.js";
import {
  deleteReleaseAsset,
  listReleaseAssets,
  type Release,
  type ReleaseAsset,
  type RepositoryName,
} from "./release.js";
import { responseStatus, toPublishError } from "./request-errors.js";

/** Settings of the upload retry loop. */
export interface UploadOptions {
  logger: Logger;
  /** Upload attempts per asset, the first included. */
  attempts: number;
  /** Back-off unit in milliseconds: attempt n+1 starts n² units after attempt n failed. */
  retryUnitMs: number;
}

/**
 * Uploads one asset to the release's upload_url and checks what GitHub
 * stored. A failed upload can leave an incomplete asset under the same name
 * (GitHub documents an empty asset in state "starter" after a 502), which
 * makes every later upload of that name fail with 422. So this function
 * retries uploads itself rather than through octokit's retry plugin. After
 * a network error, a 5xx or a 422 it looks at the release: it deletes an
 * incomplete asset of that name, accepts a complete one with the same
 * SHA-256, and otherwise tries again.
 */
export async function uploadAsset(
  client: GitHubClient,
  repository: RepositoryName,
  release: Release,
  local: LocalAsset,
  options: UploadOptions,
): Promise<ReleaseAsset> {
  const context = { repo: repository.full, action: `upload asset ${local.name}`, permission: "contents: write" };

  for (let attempt = 1; ; attempt += 1) {
    try {
      const uploaded = await postAsset(client, release, local);
      await checkStoredAsset(client, repository, local, uploaded);
      return uploaded;
    } catch (error) {
      if (error instanceof PublishError) throw error;
      if (!isRetryableUploadFailure(error) || attempt >= options.attempts) {
        throw toPublishError(error, context);
      }

      const status = responseStatus(error) ?? "no response";
      options.logger.warn(
        { asset: local.name, attempt, status, err: String(error) },
        "asset upload failed; checking the release before retrying",
      );
      const settled = await settleFailedUpload(client, repository, release, local, options.logger);
      if (settled !== undefined) return settled;
      await sleep(attempt * attempt * options.retryUnitMs);
    }
  }
}

async function postAsset(client: GitHubClient, release: Release, local: LocalAsset): Promise<ReleaseAsset> {
  const data = await readFile(local.path);
  // The bytes sent must be the bytes that were verified.
  if (createHash("sha256").update(data).digest("hex") !== local.sha256) {
    throw new PublishError(
      "folder-invalid",
      `${local.path} changed after it was verified; make sure nothing writes to the folder and publish again`,
    );
  }
  // upload_url is a URI template, "https://uploads.github.com/repos/o/r/releases/1/assets{?name,label}";
  // octokit expands it with `name`.
  const response = await client.request({
    method: "POST",
    url: release.upload_url,
    name: local.name,
    data,
    headers: {
      "content-type": local.contentType,
      "content-length": String(data.length),
    },
    request: { retries: 0 },
  });
  return response.data as ReleaseAsset;
}

/** Returns true for a network error, a 5xx, or a 422, which an incomplete asset of the same name causes. */
function isRetryableUploadFailure(error: unknown): boolean {
  if (!(error instanceof RequestError)) return false;
  const status = responseStatus(error);
  return status === undefined || status >= 500 || status === 422;
}

/**
 * Looks at the asset of that name after a failed upload. Returns it when
 * the upload did complete with the right content; deletes it when it is
 * incomplete; raises asset-conflict when another complete asset has the
 * name.
 */
async function settleFailedUpload(
  client: GitHubClient,
  repository: RepositoryName,
  release: Release,
  local: LocalAsset,
  logger: Logger,
): Promise<ReleaseAsset | undefined> {
  const assets = await listReleaseAssets(client, repository, release);
  const existing = assets.find((asset) => asset.name === local.name);
  if (existing === undefined) return undefined;

  if (existing.state !== "uploaded") {
    logger.info({ asset: local.name, state: existing.state }, "deleting the incomplete asset left by the failed upload");
    await deleteReleaseAsset(client, repository, existing);
    return undefined;
  }

  const sha256 = sha256FromDigestField(existing.digest);
  if (existing.size === local.size && (sha256 === undefined || sha256 === local.sha256)) {
    logger.info({ asset: local.name }, "the failed upload completed on GitHub's side");
    return existing;
  }
  throw new PublishError(
    "asset-conflict",
    `release ${release.tag_name} of ${repository.full} gained another ${local.name} during the upload (size ${existing.size}, digest ${existing.digest ?? "not given"}); another run may be publishing to the same tag`,
  );
}

/**
 * Checks that GitHub stored the asset under its name with the uploaded size
 * and digest; deletes it and raises otherwise, so no wrong asset stays.
 */
async function checkStoredAsset(
  client: GitHubClient,
  repository: RepositoryName,
  local: LocalAsset,
  stored: ReleaseAsset,
): Promise<void> {
  const sha256 = sha256FromDigestField(stored.digest);
  const renamed = stored.name !== local.name;
  const altered = stored.size !== local.size || (sha256 !== undefined && sha256 !== local.sha256);
  if (!renamed && !altered) return;

  await deleteReleaseAsset(client, repository, stored);
  if (renamed) {
    // GitHub renames names with special characters or leading or trailing periods.
    throw new PublishError(
      "folder-invalid",
      `GitHub renamed ${local.name} to ${stored.name} in ${repository.full}; rename the file to letters, digits, '.', '-' and '_' and publish again`,
    );
  }
  throw new PublishError(
    "digest-mismatch",
    `GitHub stored ${local.name} with size ${stored.size} and digest ${stored.digest ?? "not given"}, but ${local.size} bytes with sha256:${local.sha256} were sent; the stored asset was deleted, run again`,
  );
}
