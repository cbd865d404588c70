import Docker from "dockerode";
import { BuildError } from "./errors.js";

/** Returns the engine address dockerode uses: DOCKER_HOST when set, else the default socket. */
export function engineAddress(env: NodeJS.ProcessEnv = process.env): string {
  return env.DOCKER_HOST ?? "unix:///var/run/docker.sock";
}

/**
 * Connects to the Docker engine and pings it, so a missing engine fails
 * once with a message that names the address and how to start an engine,
 * instead of on the first container call.
 */
export async function connectEngine(): Promise<Docker> {
  const docker = new Docker();
  try {
    await docker.ping();
  } catch (error) {
    const detail = error instanceof Error ? error.message : String(error);
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
