import { createHash } from "node:crypto";
import { Worker } from "node:worker_threads";

export interface Digests {
  sha256: string;
  sha384: string;
}

/** The sha256 and sha384 of one byte stream, fed a chunk at a time. */
export interface StreamDigest {
  update(chunk: Uint8Array): void;
  finish(): Promise<Digests>;
}

/** Hashes a stream on the calling thread. */
export function inlineDigest(): StreamDigest {
  const sha256 = createHash("sha256");
  const sha384 = createHash("sha384");
  return {
    update(chunk) {
      sha256.update(chunk);
      sha384.update(chunk);
    },
    finish: async () => ({ sha256: sha256.digest("hex"), sha384: sha384.digest("hex") }),
  };
}

/**
 * Hashes streams on a worker thread, so that copying a 16 MiB output out
 * of a container does not also spend 30 ms of the main thread on its
 * digests. Each chunk is copied and transferred to the worker. Start it
 * early: a worker takes 20 to 30 ms to start.
 */
export class DigestWorker {
  private nextId = 0;
  private failure: Error | undefined;
  private readonly pending = new Map<number, { resolve(digests: Digests): void; reject(error: Error): void }>();

  private constructor(
    private readonly worker: Worker,
    private readonly file: string,
  ) {
    worker.unref();
    worker.on("message", ({ id, ...digests }: Digests & { id: number }) => {
      this.pending.get(id)?.resolve(digests);
      this.pending.delete(id);
      if (this.pending.size === 0) worker.unref();
    });
    const fail = (cause: Error) => {
      const error = new Error(`hashing the build outputs on a worker thread (${file}) failed: ${cause.message}`, { cause });
      this.failure ??= error;
      for (const { reject } of this.pending.values()) reject(error);
      this.pending.clear();
    };
    worker.on("error", fail);
    worker.on("exit", (code) => fail(new Error(`the worker exited with code ${code}`)));
  }

  /** Starts the worker from `file`, next to this module (tsc) or to the bundle (scripts/bundle.mjs). */
  static start(file = "./digest-stream-worker.cjs"): DigestWorker {
    const url = new URL(file, import.meta.url);
    return new DigestWorker(new Worker(url, { stdout: false, stderr: false }), url.pathname);
  }

  digest(): StreamDigest {
    const id = this.nextId++;
    return {
      update: (chunk) => {
        const copy = new Uint8Array(chunk);
        this.worker.postMessage({ id, chunk: copy }, [copy.buffer]);
      },
      finish: () =>
        new Promise<Digests>((resolve, reject) => {
          if (this.failure) {
            reject(this.failure);
            return;
          }
          this.pending.set(id, { resolve, reject });
          this.worker.ref();
          this.worker.postMessage({ id, end: true });
        }),
    };
  }

  async close(): Promise<void> {
    await this.worker.terminate();
  }
}
