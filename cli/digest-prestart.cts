// Creates the worker threads of cli/digest-worker.cts and keeps the one that
// `verify` starts ahead of need. CommonJS that loads only Node built-ins, so
// that the command's entry file (scripts/entry.cjs) can start the worker
// before Node compiles the CLI bundle. The bundle loads this file, not a
// copy of it, so both see the same prestarted worker.
import { join } from "node:path";
import { SHARE_ENV, Worker } from "node:worker_threads";

/** The worker's file, beside this one in dist/cli/ (tsc) and dist/bin/ (scripts/bundle.mjs). */
const WORKER_FILE = join(__dirname, "digest-worker.cjs");

/** A worker started ahead, and whether it has failed (an error or exit) meanwhile. */
let prestarted: { worker: Worker; failed: boolean } | undefined;

/**
 * Starts a digest worker. It shares this thread's environment and does not
 * pipe its stdout and stderr to this process's, which saves 3 to 5 ms of its
 * 25 to 35 ms start (Node 20, 2-core development machine). It writes nothing.
 */
export function newDigestWorker(file = WORKER_FILE): Worker {
  return new Worker(file, { env: SHARE_ENV, stdout: true, stderr: true });
}

/**
 * Starts a worker before the command needs it, so that it boots while the
 * command loads and parses its arguments. The worker does not keep the
 * process alive until its user calls ref(). When Node cannot create the
 * thread, nothing is prestarted and the error is left to that user.
 */
export function prestartDigestWorker(file?: string): void {
  if (prestarted !== undefined) return;
  let worker: Worker;
  try {
    worker = newDigestWorker(file);
  } catch {
    return;
  }
  const entry = { worker, failed: false };
  // Without listeners, a worker that fails to start would crash the process.
  entry.worker.on("error", () => (entry.failed = true));
  entry.worker.on("exit", () => (entry.failed = true));
  entry.worker.unref();
  prestarted = entry;
}

/**
 * Returns the prestarted worker, once, or undefined when there is none or
 * it has failed: a worker that failed emits no more events, so it must be
 * replaced.
 */
export function takePrestartedWorker(): Worker | undefined {
  const entry = prestarted;
  prestarted = undefined;
  return entry !== undefined && !entry.failed ? entry.worker : undefined;
}
