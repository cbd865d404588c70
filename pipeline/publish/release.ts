import type { GitHubClient } from "./client.js";
import { PublishError } from "./errors.js";
import { responseStatus, toPublishError } from "./request-errors.js";

export type Release = Awaited<ReturnType<GitHubClient["rest"]["repos"]["getReleaseByTag"]>>["data"];
export type ReleaseAsset = Release["assets"][number];

/** A repository as "OWNER/NAME", split. */
export interface RepositoryName {
  owner: string;
  repo: string;
  /** "OWNER/NAME", for messages. */
  full: string;
}

// GitHub's rules: owner names are alphanumeric with single inner hyphens,
// repository names use letters, digits, '.', '-' and '_'.
const REPOSITORY_PATTERN = /^([A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)\/([A-Za-z0-9._-]+)$/;

/** Splits "OWNER/NAME"; raises a PublishError naming the value otherwise. */
export function parseRepository(value: string): RepositoryName {
  const match = REPOSITORY_PATTERN.exec(value);
  if (match === null || match[2] === "." || match[2] === "..") {
    throw new PublishError(
      "repository-invalid",
      `repository '${value}' is not of the form OWNER/NAME, e.g. intel/MigTD`,
    );
  }
  return { owner: match[1]!, repo: match[2]!, full: value };
}

/**
 * Finds the release for a tag, draft releases included, or returns
 * undefined when the repository has none. GitHub's get-release-by-tag
 * endpoint only returns published releases, so a 404 there is followed by
 * a search of the release list, which shows drafts to tokens with push
 * access. A 404 on the list means the repository does not exist or the
 * token cannot see it.
 */
export async function findRelease(
  client: GitHubClient,
  repository: RepositoryName,
  tag: string,
): Promise<Release | undefined> {
  const { owner, repo } = repository;
  const context = { repo: repository.full, action: `get the release for tag ${tag}`, permission: "contents: read" };

  try {
    const response = await client.rest.repos.getReleaseByTag({ owner, repo, tag });
    return response.data;
  } catch (error) {
    if (responseStatus(error) !== 404) throw toPublishError(error, context);
  }

  try {
    const pages = client.paginate.iterator(client.rest.repos.listReleases, { owner, repo, per_page: 100 });
    for await (const page of pages) {
      const release = page.data.find((candidate) => candidate.tag_name === tag);
      if (release !== undefined) return release;
    }
    return undefined;
  } catch (error) {
    if (responseStatus(error) === 404) {
      throw new PublishError(
        "repository-not-found",
        `repository ${repository.full} was not found on GitHub, or the token cannot see it; check --repo and the token's repository access`,
        { cause: error },
      );
    }
    throw toPublishError(error, context);
  }
}

/**
 * Returns the release for a tag, creating it when there is none. When two
 * runs race, GitHub rejects the second creation with 422 and that run
 * reuses the release the first one made.
 */
export async function findOrCreateRelease(
  client: GitHubClient,
  repository: RepositoryName,
  tag: string,
  draft: boolean,
): Promise<{ release: Release; created: boolean }> {
  const existing = await findRelease(client, repository, tag);
  if (existing !== undefined) return { release: existing, created: false };

  const { owner, repo } = repository;
  try {
    const response = await client.rest.repos.createRelease({ owner, repo, tag_name: tag, name: tag, draft });
    return { release: response.data, created: true };
  } catch (error) {
    if (responseStatus(error) === 422) {
      const raced = await findRelease(client, repository, tag);
      if (raced !== undefined) return { release: raced, created: false };
    }
    throw toPublishError(error, {
      repo: repository.full,
      action: `create the release for tag ${tag}`,
      permission: "contents: write",
    });
  }
}

/** Lists every asset of a release, following pagination. */
export async function listReleaseAssets(
  client: GitHubClient,
  repository: RepositoryName,
  release: Release,
): Promise<ReleaseAsset[]> {
  const { owner, repo } = repository;
  try {
    return await client.paginate(client.rest.repos.listReleaseAssets, {
      owner,
      repo,
      release_id: release.id,
      per_page: 100,
    });
  } catch (error) {
    throw toPublishError(error, {
      repo: repository.full,
      action: `list the assets of release ${release.tag_name}`,
      permission: "contents: read",
    });
  }
}

/** Deletes one release asset. */
export async function deleteReleaseAsset(
  client: GitHubClient,
  repository: RepositoryName,
  asset: ReleaseAsset,
): Promise<void> {
  const { owner, repo } = repository;
  try {
    await client.rest.repos.deleteReleaseAsset({ owner, repo, asset_id: asset.id });
  } catch (error) {
    // Already gone, e.g. deleted by a concurrent run: the goal is reached.
    if (responseStatus(error) === 404) return;
    throw toPublishError(error, {
      repo: repository.full,
      action: `delete release asset ${asset.name}`,
      permission: "contents: write",
    });
  }
}
