// Worker thread of cli/file-digests.ts. Waits for the image file that the
// main thread opened (its descriptor, size and the sha256 claim), hashes it
// with sha384, then with sha256 unless the main thread has claimed that
// digest, reading 128 KiB at a time. Posts the lowercase hex digests, or the
// error message when a read fails. CommonJS, so that the worker starts
// without Node's ES module loader.
import { createHash } from "node:crypto";
import { readSync } from "node:fs";
import { parentPort } from "node:worker_threads";

interface Job {
  fd: number;
  size: number;
  claim: Int32Array;
}

// Values of claim[0], as in cli/file-digests.ts.
const UNCLAIMED = 0;
const BY_WORKER = 2;

function digest(algorithm: string, { fd, size }: Job, chunk: Buffer): string {
  const hash = createHash(algorithm);
  for (let offset = 0; offset < size; ) {
    const bytesRead = readSync(fd, chunk, 0, Math.min(chunk.length, size - offset), offset);
    if (bytesRead === 0) throw new Error(`the file ended at ${offset} bytes, before its size of ${size}`);
    hash.update(chunk.subarray(0, bytesRead));
    offset += bytesRead;
  }
  return hash.digest("hex");
}

parentPort!.once("message", (job: Job) => {
  try {
    const chunk = Buffer.allocUnsafe(Math.min(128 * 1024, Math.max(job.size, 1)));
    const sha384 = digest("sha384", job, chunk);
    const claimed = Atomics.compareExchange(job.claim, 0, UNCLAIMED, BY_WORKER) === UNCLAIMED;
    parentPort!.postMessage({ sha384, sha256: claimed ? digest("sha256", job, chunk) : undefined });
  } catch (error) {
    parentPort!.postMessage({ error: error instanceof Error ? error.message : String(error) });
  }
});
