import { fileDigests, imageDigests, type FileDigests } from "../attest/hash-image.js";
import type { Worker } from "node:worker_threads";
import { ImageBytes } from "../attest/image-bytes.js";
import { newDigestWorker, takePrestartedWorker } from "./digest-prestart.cjs";
import { InputFileError, type OpenInputFile } from "./io.js";

export { prestartDigestWorker } from "./digest-prestart.cjs";

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
  let worker: Worker;
  try {
    worker = (workerFile === undefined ? takePrestartedWorker() : undefined) ?? newDigestWorker(workerFile);
  } catch {
    // Node could not create a thread (EAGAIN under a process limit, for
    // example), so this thread hashes the file when the caller requests the result.
    return { result: async () => fileDigests(ImageBytes.fromFile(file)), stop: async () => {} };
  }
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
