import { open } from "node:fs/promises";
import { Worker } from "node:worker_threads";
import { fileDigests } from "../attest/hash-image.js";
import { InputFileError, MAX_IMAGE_FILE_SIZE } from "./io.js";

export interface FileDigests {
  sha256: string;
  sha384: string;
}

/**
 * Reads an image into shared memory, so that a worker thread can hash the
 * same bytes that this thread measures, without a copy and without reading
 * the file twice (which would let a file changed in between pass).
 */
export async function readImageShared(path: string, description = "image"): Promise<Buffer> {
  try {
    const handle = await open(path, "r");
    try {
      const { size } = await handle.stat();
      if (size > MAX_IMAGE_FILE_SIZE) {
        throw new InputFileError(`${description} ${path} is ${size} bytes, larger than the ${MAX_IMAGE_FILE_SIZE}-byte limit`);
      }
      const bytes = Buffer.from(new SharedArrayBuffer(size));
      let offset = 0;
      while (offset < size) {
        const { bytesRead } = await handle.read(bytes, offset, size - offset, offset);
        if (bytesRead === 0) break;
        offset += bytesRead;
      }
      return bytes.subarray(0, offset);
    } finally {
      await handle.close();
    }
  } catch (error) {
    if (error instanceof InputFileError) throw error;
    const code = (error as NodeJS.ErrnoException).code;
    const reason = code === "ENOENT" ? "no such file" : (error as Error).message;
    throw new InputFileError(`cannot read ${description} ${path}: ${reason}`);
  }
}

/**
 * Computes SHA-256 and SHA-384 of `bytes` on a worker thread, so that on a
 * machine with a free core the digests overlap the MRTD pass on the main
 * thread. Bytes not in shared memory, or a worker that fails to
 * start, are hashed on this thread instead.
 */
export function digestOnWorker(bytes: Buffer): Promise<FileDigests> {
  const shared = bytes.buffer;
  if (!(shared instanceof SharedArrayBuffer) || bytes.byteOffset !== 0 || bytes.length !== shared.byteLength) {
    return Promise.resolve(fileDigests(bytes));
  }

  return new Promise((resolve) => {
    const worker = new Worker(new URL("./digest-worker.js", import.meta.url), { workerData: shared });
    worker.once("message", (digests: FileDigests) => {
      resolve(digests);
      void worker.terminate();
    });
    worker.once("error", () => resolve(fileDigests(bytes)));
    worker.once("exit", () => resolve(fileDigests(bytes)));
  });
}
