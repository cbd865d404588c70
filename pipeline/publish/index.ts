export { PublishError, type PublishErrorCode } from "./errors.js";
export {
  apiUrlFromEnv,
  createGitHubClient,
  tokenFromEnv,
  DEFAULT_API_URL,
  type GitHubClient,
  type GitHubClientOptions,
} from "./client.js";
export {
  collectLocalRelease,
  type LocalAsset,
  type LocalRelease,
} from "./local-assets.js";
export {
  publishRelease,
  type AssetOutcome,
  type FolderVerifier,
  type PublishOptions,
  type PublishResult,
} from "./publish.js";
export {
  downloadReleaseAssets,
  withDownloadedRelease,
  type DownloadOptions,
  type DownloadedRelease,
} from "./download.js";
