import { Worker } from "node:worker_threads";
import { fileDigests, imageDigests, type FileDigests } from "../attest/hash-image.js";
import { ImageBytes } from "../attest/image-bytes.js";
import { InputFileError, type OpenInputFile } from "./io.js";

/** The digests of an open file, being computed on a worker thread. */
export interface DigestJob {
  /**
   * The sha256 and sha384 of the file. Call it when this thread has nothing
   * else to do: it then computes sha256 itself, unless the worker has
   * already started on it.
   */
  result(): Promise<FileDigests>;
  /**
   * Makes sure the worker no longer reads the file, so that it can be
   * closed: ends the worker unless it has posted its result.
   */
  stop(): Promise<void>;
}

// Values of the sha256 claim shared with cli/digest-worker.cts.
const UNCLAIMED = 0;
const BY_MAIN = 1;

/** A worker started ahead, and whether it has failed (an error or exit) meanwhile. */
let prestarted: { worker: Worker; failed: boolean } | undefined;

/** The worker's file, next to this module (tsc) or to the bundle (scripts/bundle.mjs). */
const WORKER_FILE = "./digest-worker.cjs";

/**
 * Starts the worker thread before the command needs it, so that it boots
 * while the command loads and parses its arguments. It waits, and does not
 * keep the process alive, until startFileDigests hands it a file.
 */
export function prestartDigestWorker(file = WORKER_FILE): void {
  if (prestarted !== undefined) return;
  const entry = { worker: newWorker(file), failed: false };
  // Without listeners, a worker that fails to start would crash the process.
  entry.worker.on("error", () => (entry.failed = true));
  entry.worker.on("exit", () => (entry.failed = true));
  entry.worker.unref();
  prestarted = entry;
}

function newWorker(file = WORKER_FILE): Worker {
  return new Worker(new URL(file, import.meta.url), { stdout: false, stderr: false });
}

/**
 * Starts hashing `file` on a worker thread, which reads it through the same
 * descriptor: sha384, then sha256 unless this thread claims that first.
 * For a 16 MiB image that is 20 and 10 ms, while the main thread measures
 * it. Keep the file open until the result settles or stop() returns.
 */
export function startFileDigests(
  file: OpenInputFile,
  description: string,
  /** Another worker file, for tests of a worker that fails to start. */
  workerFile?: string,
): DigestJob {
  const ahead = workerFile === undefined ? prestarted : undefined;
  if (ahead !== undefined) prestarted = undefined;
  // A worker that failed before this call emits no more events, so it is replaced.
  const worker = ahead !== undefined && !ahead.failed ? ahead.worker : newWorker(workerFile);
  worker.ref();
  const claim = new Int32Array(new SharedArrayBuffer(4));
  worker.postMessage({ fd: file.fd, size: file.size, claim });

  const posted = new Promise<{ sha384: string; sha256?: string }>((resolve, reject) => {
    worker.once("message", (message: { sha384: string; sha256?: string } | { error: string }) => {
      if ("error" in message) reject(new InputFileError(`cannot read ${description}: ${message.error}`));
      else resolve(message);
    });
    worker.once("error", reject);
    worker.once("exit", (code) => reject(new Error(`the digest worker exited with code ${code} before its result`)));
  });
  // A caller that fails before it requests the result must not also see an
  // unhandled rejection.
  let settled = false;
  posted.then(
    () => (settled = true),
    () => (settled = true),
  );

  return {
    result: async () => {
      let sha256: string | undefined;
      if (Atomics.compareExchange(claim, 0, UNCLAIMED, BY_MAIN) === UNCLAIMED) {
        [sha256] = imageDigests(ImageBytes.fromFile(file), ["sha256"]);
      }
      let fromWorker: { sha384: string; sha256?: string };
      try {
        fromWorker = await posted;
      } catch (error) {
        // A worker that could not start or crashed leaves the work to this thread.
        if (error instanceof InputFileError) throw error;
        return fileDigests(ImageBytes.fromFile(file));
      }
      return { sha256: sha256 ?? fromWorker.sha256!, sha384: fromWorker.sha384 };
    },
    stop: async () => {
      // A worker that has posted is done with the file. Ending it would
      // take another 2 ms, so the process ends it when it exits.
      if (settled) worker.unref();
      else await worker.terminate();
    },
  };
}
