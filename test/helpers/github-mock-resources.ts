// State of the GitHub test double and the JSON GitHub returns for it. The
// field lists follow the `release`, `release-asset` and `simple-user`
// schemas of GitHub's REST API description; github-mock.ts checks every
// response against them.
import { createHash } from "node:crypto";

export interface MockAsset {
  id: number;
  name: string;
  label: string | null;
  contentType: string;
  /** "open" is an upload that did not complete. */
  state: "uploaded" | "open";
  content: Buffer;
  /** False for assets that GitHub stored before it computed digests: `digest` is null. */
  digestKnown: boolean;
  createdAt: string;
}

export interface MockRelease {
  id: number;
  tag: string;
  name: string | null;
  draft: boolean;
  immutable: boolean;
  createdAt: string;
  assets: MockAsset[];
}

export interface MockRepository {
  id: number;
  owner: string;
  name: string;
  private: boolean;
  releases: MockRelease[];
}

/** Origins the double serves, each on its own 127.0.0.1 port. */
export interface MockOrigins {
  /** REST API root, e.g. http://127.0.0.1:40001. */
  api: string;
  /** Upload host that upload_url points to. */
  uploads: string;
  /** Storage host that asset downloads redirect to. */
  objects: string;
}

/** Creation time of every release and asset in the double. */
export const MOCK_TIMESTAMP = "2026-01-02T03:04:05Z";

/** Returns the account that owns releases and uploads in the double. */
export function mockUser(origins: MockOrigins): Record<string, unknown> {
  const url = `${origins.api}/users/release-bot`;
  return {
    login: "release-bot",
    id: 41898282,
    node_id: "MDQ6VXNlcjQxODk4Mjgy",
    avatar_url: `${origins.objects}/avatars/41898282`,
    gravatar_id: "",
    url,
    html_url: `${origins.api}/release-bot`,
    followers_url: `${url}/followers`,
    following_url: `${url}/following{/other_user}`,
    gists_url: `${url}/gists{/gist_id}`,
    starred_url: `${url}/starred{/owner}{/repo}`,
    subscriptions_url: `${url}/subscriptions`,
    organizations_url: `${url}/orgs`,
    repos_url: `${url}/repos`,
    events_url: `${url}/events{/privacy}`,
    received_events_url: `${url}/received_events`,
    type: "Bot",
    site_admin: false,
  };
}

export function assetJson(
  origins: MockOrigins,
  repository: MockRepository,
  release: MockRelease,
  asset: MockAsset,
): Record<string, unknown> {
  const full = `${repository.owner}/${repository.name}`;
  return {
    url: `${origins.api}/repos/${full}/releases/assets/${asset.id}`,
    browser_download_url: `${origins.objects}/${full}/releases/download/${encodeURIComponent(release.tag)}/${encodeURIComponent(asset.name)}`,
    id: asset.id,
    node_id: `RA_${asset.id}`,
    name: asset.name,
    label: asset.label,
    state: asset.state,
    content_type: asset.contentType,
    size: asset.content.length,
    digest: asset.digestKnown && asset.state === "uploaded"
      ? `sha256:${createHash("sha256").update(asset.content).digest("hex")}`
      : null,
    download_count: 0,
    created_at: asset.createdAt,
    updated_at: asset.createdAt,
    uploader: mockUser(origins),
  };
}

export function releaseJson(
  origins: MockOrigins,
  repository: MockRepository,
  release: MockRelease,
): Record<string, unknown> {
  const full = `${repository.owner}/${repository.name}`;
  const url = `${origins.api}/repos/${full}/releases/${release.id}`;
  return {
    url,
    html_url: `${origins.api}/${full}/releases/tag/${encodeURIComponent(release.tag)}`,
    assets_url: `${url}/assets`,
    upload_url: `${origins.uploads}/repos/${full}/releases/${release.id}/assets{?name,label}`,
    tarball_url: `${origins.api}/repos/${full}/tarball/${encodeURIComponent(release.tag)}`,
    zipball_url: `${origins.api}/repos/${full}/zipball/${encodeURIComponent(release.tag)}`,
    id: release.id,
    node_id: `RE_${release.id}`,
    tag_name: release.tag,
    target_commitish: "main",
    name: release.name,
    body: null,
    draft: release.draft,
    prerelease: false,
    immutable: release.immutable,
    created_at: release.createdAt,
    published_at: release.draft ? null : release.createdAt,
    updated_at: release.createdAt,
    author: mockUser(origins),
    assets: release.assets.map((asset) => assetJson(origins, repository, release, asset)),
  };
}

/** GitHub's error body: `basic-error`, or `validation-error` with `errors`. */
export function errorJson(status: number, message: string, errors?: unknown[]): Record<string, unknown> {
  return {
    message,
    documentation_url: "https://docs.github.com/rest/releases",
    status: String(status),
    ...(errors === undefined ? {} : { errors }),
  };
}
