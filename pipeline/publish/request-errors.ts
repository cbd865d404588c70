import { RequestError } from "octokit";
import { PublishError } from "./errors.js";

/** Description of a request, for the message when it fails. */
export interface RequestContext {
  /** "OWNER/NAME". */
  repo: string;

  /** Action the request performs, e.g. "upload asset migtd.bin". */
  action: string;

  /** The token permission the action needs, e.g. "contents: write". */
  permission: string;
}

/** Returns the HTTP status of an octokit error that carries a response. */
export function responseStatus(error: unknown): number | undefined {
  return error instanceof RequestError && error.response !== undefined
    ? error.status
    : undefined;
}

/**
 * Turns an octokit RequestError into a PublishError that names what failed
 * and what to do; other errors are returned unchanged. By the time an error
 * arrives here, octokit's plugins have already retried 5xx responses,
 * network errors and rate limits as far as the client allows.
 */
export function toPublishError(error: unknown, context: RequestContext): unknown {
  if (!(error instanceof RequestError)) return error;

  const { repo, action } = context;
  if (error.response === undefined) {
    const origin = originOf(error.request.url);
    return new PublishError(
      "network",
      `cannot ${action} in ${repo}: no response from ${origin} (${error.message}); check the network connection and --api-url`,
      { cause: error },
    );
  }

  const status = error.status;
  const reason = githubMessage(error);
  const headers = error.response.headers;

  if (status === 401) {
    return new PublishError(
      "token-rejected",
      `GitHub rejected the token (401 ${reason}) when trying to ${action} in ${repo}; set GITHUB_TOKEN or GH_TOKEN to a valid token`,
      { cause: error },
    );
  }

  const limit = rateLimitDescription(status, headers, reason);
  if (limit !== undefined) {
    return new PublishError(
      "rate-limited",
      `GitHub rate limit reached when trying to ${action} in ${repo} (${status} ${reason}); ${limit}`,
      { cause: error },
    );
  }

  if (status === 403) {
    return new PublishError(
      "permission-denied",
      `GitHub denied permission to ${action} in ${repo} (403 ${reason}); the token needs the "${context.permission}" permission on ${repo}`,
      { cause: error },
    );
  }

  if (status >= 500) {
    return new PublishError(
      "server-error",
      `GitHub failed to ${action} in ${repo} (${status} ${reason}) and retries did not help; try again later`,
      { cause: error },
    );
  }

  return new PublishError(
    "unexpected-response",
    `GitHub returned ${status} when trying to ${action} in ${repo}: ${reason}`,
    { cause: error },
  );
}

/**
 * Describes when a rate-limited request may be retried, or returns undefined
 * when the response is not a rate limit. GitHub signals a primary rate limit
 * with x-ratelimit-remaining: 0 and the reset time (epoch seconds) in
 * x-ratelimit-reset, and a secondary one with 403 or 429 and retry-after.
 */
function rateLimitDescription(
  status: number,
  headers: Record<string, string | number | undefined>,
  reason: string,
): string | undefined {
  if (status !== 403 && status !== 429) return undefined;

  if (String(headers["x-ratelimit-remaining"]) === "0") {
    const reset = Number(headers["x-ratelimit-reset"]);
    const when = Number.isFinite(reset) && reset > 0
      ? new Date(reset * 1000).toISOString()
      : "an unknown time";
    return `the limit resets at ${when}; run again after that`;
  }

  const retryAfter = headers["retry-after"];
  if (retryAfter !== undefined || status === 429 || /secondary rate limit/i.test(reason)) {
    const wait = retryAfter === undefined ? "a minute" : `${retryAfter} s`;
    return `GitHub asks to wait ${wait}; run again after that`;
  }

  return undefined;
}

function githubMessage(error: RequestError): string {
  const data = error.response?.data;
  if (typeof data === "object" && data !== null && "message" in data) {
    return String((data as { message: unknown }).message);
  }
  return error.message.split("\n")[0] ?? "";
}

function originOf(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    return url;
  }
}
