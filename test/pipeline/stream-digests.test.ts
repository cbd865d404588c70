import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { DigestWorker, inlineDigest, type StreamDigest } from "../../pipeline/stream-digests.js";
import { tempDir } from "../helpers/cli.js";

/** Random bytes and their digests from coreutils' sha256sum and sha384sum. */
function sample(size: number) {
  const bytes = randomBytes(size);
  const path = join(tempDir(), "sample.bin");
  writeFileSync(path, bytes);
  const sum = (tool: string) => execFileSync(tool, [path], { encoding: "utf8" }).split(" ")[0];
  return { bytes, digests: { sha256: sum("sha256sum"), sha384: sum("sha384sum") } };
}

/** Feeds `bytes` in uneven chunks, as a tar entry stream delivers them. */
function feed(digest: StreamDigest, bytes: Buffer): void {
  for (let offset = 0, size = 1; offset < bytes.length; offset += size, size = (size * 7) % 70_001 + 1) {
    digest.update(bytes.subarray(offset, offset + size));
  }
}

test("DigestWorker: interleaved streams match coreutils", async () => {
  const first = sample(3 * 1024 * 1024 + 17);
  const second = sample(200_000);
  const worker = DigestWorker.start();
  try {
    const a = worker.digest();
    const b = worker.digest();
    feed(a, first.bytes.subarray(0, 1_000_000));
    feed(b, second.bytes);
    feed(a, first.bytes.subarray(1_000_000));

    assert.deepEqual(await b.finish(), second.digests);
    assert.deepEqual(await a.finish(), first.digests);
  } finally {
    await worker.close();
  }
});

test("DigestWorker: chunks stay usable after update", async () => {
  const { bytes, digests } = sample(100_000);
  const worker = DigestWorker.start();
  try {
    const digest = worker.digest();
    digest.update(bytes);

    assert.equal(bytes.length, 100_000);
    assert.deepEqual(await digest.finish(), digests);
  } finally {
    await worker.close();
  }
});

test("inlineDigest: matches coreutils", async () => {
  const { bytes, digests } = sample(1_000_003);
  const digest = inlineDigest();
  feed(digest, bytes);

  assert.deepEqual(await digest.finish(), digests);
});

test("DigestWorker: a worker that cannot start names its file", async () => {
  const worker = DigestWorker.start("./no-such-worker.cjs");
  try {
    const digest = worker.digest();
    digest.update(Buffer.from("data"));

    await assert.rejects(digest.finish(), /hashing the build outputs on a worker thread \(.*no-such-worker\.cjs\) failed/);
  } finally {
    await worker.close();
  }
});
