// Worker thread body for image-digests.ts: hashes the shared image bytes
// with SHA-256 and SHA-384 and posts the hex digests back. It imports only
// node built-ins, so the thread starts as fast as node allows.
import { createHash } from "node:crypto";
import { parentPort, workerData } from "node:worker_threads";

const bytes = new Uint8Array(workerData as SharedArrayBuffer);
parentPort!.postMessage({
  sha256: createHash("sha256").update(bytes).digest("hex"),
  sha384: createHash("sha384").update(bytes).digest("hex"),
});
