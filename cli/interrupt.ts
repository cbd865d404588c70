import { BuildError } from "../pipeline/errors.js";
import { EXIT } from "./exit.js";

/** Maximum wait, in milliseconds, for removing containers after a second signal. */
const SECOND_SIGNAL_WAIT_MS = 10_000;

/** The action of SIGINT and SIGTERM while a build runs; without one, they end the process. */
let onBuildSignal: (() => void) | undefined;

/**
 * Makes SIGINT and SIGTERM end the process with status 130, the status
 * that --help documents, instead of Node's default (130 for SIGINT, 143 for
 * SIGTERM). While runInterruptible runs a build, a signal aborts the build
 * instead, so that its containers are removed first.
 */
export function handleSignals(): void {
  process.on("SIGINT", interrupt);
  process.on("SIGTERM", interrupt);
}

/**
 * Handles SIGINT and SIGTERM: aborts the running build, or ends the process.
 * NOTE: outside a build it ends the process at once, as Node's default
 * does, so a temporary file of an atomic write can stay behind.
 */
export function interrupt(): void {
  if (onBuildSignal) onBuildSignal();
  else process.exit(EXIT.interrupted);
}

/**
 * Runs a build with SIGINT and SIGTERM turned into an abort of `signal`,
 * so the pipeline removes its containers before the command exits, and
 * then rejects with a BuildError whose code is "interrupted". A second
 * signal force-removes the containers with the build's label, waiting at
 * most SECOND_SIGNAL_WAIT_MS, and exits with status 130.
 */
export async function runInterruptible<T>(buildId: string, run: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const { removeBuildContainers } = await import("../pipeline/build.js");
  const controller = new AbortController();
  let exiting = false;
  const previous = onBuildSignal;
  onBuildSignal = () => {
    if (!controller.signal.aborted) {
      controller.abort();
      return;
    }
    if (exiting) return;
    exiting = true;
    void removeBuildContainers(buildId, SECOND_SIGNAL_WAIT_MS).then((removed) => {
      process.stderr.write(`migtd-repro: second signal: force-removed ${removed} container(s) of build ${buildId} and exiting\n`);
      process.exit(EXIT.interrupted);
    });
  };
  try {
    return await run(controller.signal);
  } catch (error) {
    // An aborted build can fail with any error, and its cause is the signal.
    if (controller.signal.aborted && (error as BuildError).code !== "interrupted") {
      throw new BuildError("interrupted", "build interrupted", { cause: error });
    }
    throw error;
  } finally {
    // The pipeline has cleaned up by now, so a later signal just ends the process.
    onBuildSignal = previous;
  }
}
