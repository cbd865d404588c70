import Bottleneck from "bottleneck";
import { Octokit } from "octokit";
import { pino, type Logger } from "pino";
import { PublishError } from "./errors.js";

export const DEFAULT_API_URL = "https://api.github.com";

/** Settings of the REST client; every field has a default. */
export interface GitHubClientOptions {
  /** Token for the Authorization header; without one, requests are anonymous. */
  token?: string;

  /** REST API root, e.g. https://github.example.com/api/v3 for GitHub Enterprise Server. */
  apiUrl?: string;

  logger?: Logger;

  /** Retries of a request that failed with a 5xx status or a network error. */
  retries?: number;

  /** Back-off unit in milliseconds: retry n waits n² units. */
  retryUnitMs?: number;

  /** Minimum time between two mutating requests, in milliseconds. */
  writeIntervalMs?: number;

  /** Minimum time between two requests that notify users, such as creating a release, in milliseconds. */
  notificationIntervalMs?: number;

  /** Maximum wait for a rate limit to reset before giving up, in seconds. */
  maxRateLimitWaitSeconds?: number;

  /** Rate-limited attempts of one request that are retried. */
  rateLimitRetries?: number;

  /**
   * Maximum wait, in milliseconds, between two parts of an upload, for a
   * response to start, and between two parts of its body; default 30 000.
   * A request that passes it fails as a network error, which the retry
   * plugin retries.
   */
  responseTimeoutMs?: number;
}

/** The client type the publish and download code takes. */
export type GitHubClient = InstanceType<typeof Octokit>;

/**
 * Returns the token from GITHUB_TOKEN, else GH_TOKEN (the variables that
 * GitHub Actions and the gh CLI use), or undefined when neither is set.
 */
export function tokenFromEnv(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const token = env.GITHUB_TOKEN || env.GH_TOKEN;
  return token ? token : undefined;
}

/** Returns the API root from --api-url, else GITHUB_API_URL when set and not empty, else api.github.com. */
export function apiUrlFromEnv(
  option: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
): string {
  const value = option ?? (env.GITHUB_API_URL || DEFAULT_API_URL);
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new PublishError(
      "api-url-invalid",
      `GitHub API URL '${value}' is not a URL; give an http(s) URL such as ${DEFAULT_API_URL}`,
    );
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") {
    throw new PublishError(
      "api-url-invalid",
      `GitHub API URL '${value}' must use http or https`,
    );
  }
  return value.replace(/\/+$/, "");
}

/**
 * Creates an Octokit REST client with octokit's retry plugin (5xx and
 * network errors, bounded back-off) and throttling plugin (waits for
 * primary and secondary rate limits as GitHub's headers ask, up to
 * maxRateLimitWaitSeconds). Log lines carry methods and URLs, never
 * headers, so the token never reaches the log.
 */
export function createGitHubClient(options: GitHubClientOptions = {}): GitHubClient {
  const logger = options.logger ?? pino({ level: "silent" });
  const maxWait = options.maxRateLimitWaitSeconds ?? 900;
  const rateLimitRetries = options.rateLimitRetries ?? 2;

  const onLimit =
    (kind: "primary" | "secondary") =>
    (retryAfter: number, request: { method: string; url: string; request: { retryCount: number } }) => {
      const retry = request.request.retryCount < rateLimitRetries && retryAfter <= maxWait;
      logger.warn(
        { kind, method: request.method, url: request.url, retryAfterSeconds: retryAfter, retry },
        retry ? "GitHub rate limit reached; waiting before retrying" : "GitHub rate limit reached; giving up",
      );
      return retry;
    };

  return new Octokit({
    auth: options.token,
    baseUrl: options.apiUrl ?? DEFAULT_API_URL,
    userAgent: "migtd-repro",
    request: { fetch: fetchWithTimeout(options.responseTimeoutMs ?? 30_000) },
    log: {
      debug: (message: string) => logger.debug(message),
      info: (message: string) => logger.info(message),
      warn: (message: string) => logger.warn(message),
      error: (message: string) => logger.error(message),
    },
    retry: {
      retries: options.retries ?? 3,
      retryAfterBaseValue: options.retryUnitMs ?? 1000,
    },
    throttle: {
      onRateLimit: onLimit("primary"),
      onSecondaryRateLimit: onLimit("secondary"),
      // GitHub's REST API guidance: wait at least one second between
      // mutating requests to avoid secondary rate limits. The throttling
      // plugin spaces requests that send notifications by 3 s.
      write: new Bottleneck.Group({
        maxConcurrent: 1,
        minTime: options.writeIntervalMs ?? 1000,
      }),
      notifications: new Bottleneck.Group({
        maxConcurrent: 1,
        minTime: options.notificationIntervalMs ?? 3000,
      }),
    },
  });
}

/** Size of the parts in which an upload's bytes are handed to fetch. */
const UPLOAD_PART_SIZE = 64 * 1024;

/**
 * Wraps fetch so that a server that accepts the connection but stops
 * reading or sending fails the request instead of hanging it. An upload's
 * next part must be taken within `timeoutMs` of the previous one, the
 * response must start within `timeoutMs` of the last part, and each part
 * of the response body must follow the previous one within `timeoutMs`.
 */
export function fetchWithTimeout(timeoutMs: number): typeof fetch {
  return async (input, init = {}) => {
    const controller = new AbortController();
    const signal = init.signal ? AbortSignal.any([init.signal, controller.signal]) : controller.signal;
    // Not an AbortError: octokit passes those on unchanged, and other
    // errors become the network error that names the server.
    const stall = () => controller.abort(new Error(`no data from or to the server within ${timeoutMs / 1000} s`));
    let timer = setTimeout(stall, timeoutMs);
    const restartTimer = () => {
      clearTimeout(timer);
      timer = setTimeout(stall, timeoutMs);
    };

    let response: Response;
    try {
      response = await fetch(input, { ...init, ...uploadBody(init.body, restartTimer), signal });
    } catch (error) {
      clearTimeout(timer);
      throw error;
    }
    // A 204 or 304 response has no body, and Response takes none for it.
    if (response.body === null || [101, 204, 205, 304].includes(response.status)) {
      clearTimeout(timer);
      return response;
    }

    // The body's first part gets the full limit from the headers on. Each
    // part restarts the timer, and the body's end or an error stops it.
    restartTimer();
    const reader = response.body.getReader();
    const nextPart = async (): Promise<Uint8Array | undefined> => {
      try {
        const part = await reader.read();
        if (!part.done) {
          restartTimer();
          return part.value;
        }
      } catch (error) {
        clearTimeout(timer);
        throw error;
      }
      clearTimeout(timer);
      return undefined;
    };

    // octokit reads a JSON body whole and turns a read error into empty
    // data, so a JSON body is read here, where a stall fails the request.
    if (/\bjson\b/.test(response.headers.get("content-type") ?? "")) {
      const parts: Uint8Array[] = [];
      for (let part = await nextPart(); part !== undefined; part = await nextPart()) parts.push(part);
      return withUrl(new Response(Buffer.concat(parts), response), response.url);
    }

    const body = new ReadableStream<Uint8Array>({
      async pull(stream) {
        const part = await nextPart();
        if (part === undefined) stream.close();
        else stream.enqueue(part);
      },
      cancel(reason) {
        clearTimeout(timer);
        return reader.cancel(reason);
      },
    });
    return withUrl(new Response(body, response), response.url);
  };
}

/**
 * Returns a byte body as a stream that fetch reads a part at a time,
 * calling `onPart` as each part is taken, so that the timer follows the
 * upload. Other bodies are returned unchanged.
 */
function uploadBody(body: RequestInit["body"], onPart: () => void): Pick<RequestInit, "body"> & { duplex?: "half" } {
  if (!(body instanceof Uint8Array)) return { body };
  let offset = 0;
  const stream = new ReadableStream<Uint8Array>({
    pull(parts) {
      onPart();
      if (offset >= body.length) {
        parts.close();
        return;
      }
      parts.enqueue(body.subarray(offset, offset + UPLOAD_PART_SIZE));
      offset += UPLOAD_PART_SIZE;
    },
  });
  // fetch requires duplex "half" for a stream body.
  return { body: stream, duplex: "half" };
}

/** Sets a constructed Response's URL, which octokit reports and the constructor leaves empty. */
function withUrl(response: Response, url: string): Response {
  Object.defineProperty(response, "url", { value: url });
  return response;
}
