import { createHash, webcrypto } from "node:crypto";
import { availableParallelism, loadavg } from "node:os";

export interface FileDigests {
  sha256: string;
  sha384: string;
}

/**
 * Starts the SHA-256 and SHA-384 of an image that `verify` then measures.
 * When a core is idle (one-minute load average at least one below the
 * core count), the SHA-384, the slower of the two without hardware support,
 * runs on libuv's thread pool and overlaps the MRTD pass on this thread.
 * Otherwise both run here: on a busy machine the copy that Web Crypto
 * makes and the hand-off cost more CPU time than the overlap saves
 * (measured with bench/verify.bench.ts on a 2-core machine at load 6).
 */
export function startImageDigests(
  bytes: Uint8Array,
  parallel = hasIdleCore(),
): Promise<FileDigests> {
  const sha384 = parallel
    ? webcrypto.subtle.digest("SHA-384", bytes).then((digest) => Buffer.from(digest).toString("hex"))
    : Promise.resolve(createHash("sha384").update(bytes).digest("hex"));
  const sha256 = createHash("sha256").update(bytes).digest("hex");
  return sha384.then((hex) => ({ sha256, sha384: hex }));
}

function hasIdleCore(): boolean {
  const cores = availableParallelism();
  return cores > 1 && loadavg()[0]! <= cores - 1;
}
