// Worker thread of pipeline/stream-digests.ts. Receives the chunks of one
// or more byte streams, each with the stream's id, hashes them with sha256
// and sha384, and posts the lowercase hex digests when a stream ends.
import { createHash, type Hash } from "node:crypto";
import { parentPort } from "node:worker_threads";

interface StreamMessage {
  id: number;
  chunk?: Uint8Array;
  end?: boolean;
}

const streams = new Map<number, { sha256: Hash; sha384: Hash }>();

parentPort!.on("message", ({ id, chunk, end }: StreamMessage) => {
  let hashes = streams.get(id);
  if (hashes === undefined) {
    hashes = { sha256: createHash("sha256"), sha384: createHash("sha384") };
    streams.set(id, hashes);
  }
  if (chunk !== undefined) {
    hashes.sha256.update(chunk);
    hashes.sha384.update(chunk);
  }
  if (end) {
    streams.delete(id);
    parentPort!.postMessage({ id, sha256: hashes.sha256.digest("hex"), sha384: hashes.sha384.digest("hex") });
  }
});
