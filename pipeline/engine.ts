import Docker from "dockerode";
import { BuildError } from "./errors.js";

/** Returns the engine address dockerode uses: DOCKER_HOST when set, else the default socket. */
export function engineAddress(env: NodeJS.ProcessEnv = process.env): string {
  return env.DOCKER_HOST ?? "unix:///var/run/docker.sock";
}

/** Time limit of the first engine request; a running local engine responds in milliseconds. */
export const PING_TIMEOUT_MS = 15_000;

/**
 * Connects to the Docker engine and pings it, so a missing engine fails
 * once with a message that names the address and how to start an engine,
 * instead of on the first container call. An engine that accepts the
 * connection but does not respond fails after `timeoutMs`, or when
 * `signal` aborts.
 */
export async function connectEngine(
  options: { timeoutMs?: number; signal?: AbortSignal } = {},
): Promise<Docker> {
  let docker: Docker;
  try {
    docker = new Docker();
  } catch (error) {
    // docker-modem rejects an address it cannot parse when it is constructed.
    throw new BuildError(
      "engine-unreachable",
      `DOCKER_HOST '${engineAddress()}' is not a Docker engine address (${messageOf(error)}); ` +
        "use unix:///PATH, tcp://HOST:PORT or ssh://USER@HOST, or unset it for /var/run/docker.sock",
      { cause: error },
    );
  }

  const timeoutMs = options.timeoutMs ?? PING_TIMEOUT_MS;
  const timeout = AbortSignal.timeout(timeoutMs);
  const abortSignal = options.signal ? AbortSignal.any([timeout, options.signal]) : timeout;
  // @types/dockerode leaves out ping's options, which dockerode 5 takes.
  const ping = docker.ping.bind(docker) as unknown as (options: { abortSignal: AbortSignal }) => Promise<unknown>;
  try {
    await ping({ abortSignal });
  } catch (error) {
    if (options.signal?.aborted) throw new BuildError("interrupted", "build interrupted", { cause: error });
    const detail = timeout.aborted ? `no response within ${timeoutMs / 1000} s` : messageOf(error);
    throw new BuildError(
      "engine-unreachable",
      `no Docker engine answered at ${engineAddress()} (${detail}); ` +
        "start one with 'docker/setup-host.sh' (or 'sudo systemctl start docker'), " +
        "or set DOCKER_HOST to a running engine",
      { cause: error },
    );
  }
  return docker;
}

/**
 * Turns a connection error from an engine call into an environment error.
 * Such an error means the engine closed the connection or sent a reply
 * that is not HTTP. Other errors are returned unchanged.
 */
export function engineFailure(error: unknown): unknown {
  const code = (error as { code?: unknown } | null)?.code;
  const network = typeof code === "string" && /^(ECONNRESET|ECONNREFUSED|EPIPE|ETIMEDOUT|HPE_\w+|ERR_STREAM_PREMATURE_CLOSE)$/.test(code);
  if (!network || error instanceof BuildError) return error;
  return new BuildError(
    "engine-unreachable",
    `the Docker engine at ${engineAddress()} failed during the build (${messageOf(error)}); check that it is running and healthy`,
    { cause: error },
  );
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
