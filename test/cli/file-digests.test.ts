import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { truncateSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { test } from "node:test";
import { prestartDigestWorker, startFileDigests } from "../../cli/file-digests.js";
import { openInputFile } from "../../cli/io.js";
import { tempDir } from "../helpers/cli.js";

/** Writes a 3 MiB file of random bytes and returns its digests from coreutils' sha256sum and sha384sum. */
function randomFile() {
  const path = join(tempDir(), "image.bin");
  writeFileSync(path, randomBytes(3 * 1024 * 1024 + 5));
  const sum = (tool: string) => execFileSync(tool, [path], { encoding: "utf8" }).split(" ")[0];
  return { path, digests: { sha256: sum("sha256sum"), sha384: sum("sha384sum") } };
}

/**
 * Opens `path`, starts a digest job on it and returns its result, waiting
 * `delayMs` before asking for it.
 */
async function digestsOf(path: string, options: { workerFile?: string; delayMs?: number } = {}) {
  const file = openInputFile(path, "image");
  const job = startFileDigests(file, "image", options.workerFile);
  try {
    if (options.delayMs) await sleep(options.delayMs);
    return await job.result();
  } finally {
    await job.stop();
    file.close();
  }
}

test("startFileDigests: this thread takes sha256 when it asks first", async () => {
  const { path, digests } = randomFile();

  assert.deepEqual(await digestsOf(path), digests);
});

test("startFileDigests: the worker takes sha256 when it is done first", async () => {
  const { path, digests } = randomFile();

  // Hashing 3 MiB takes the worker a few milliseconds once it runs.
  assert.deepEqual(await digestsOf(path, { delayMs: 1500 }), digests);
});

test("startFileDigests: a file that shrinks fails with its name", async () => {
  const { path } = randomFile();
  const file = openInputFile(path, "image");
  truncateSync(path, 1000);
  const job = startFileDigests(file, `image ${path}`);
  try {
    await assert.rejects(job.result(), (error: Error) => {
      assert.equal(error.name, "InputFileError");
      assert.match(error.message, /^(cannot read image .*image\.bin: the file ended at 1000 bytes|image .*image\.bin changed while it was read)/);
      return true;
    });
  } finally {
    await job.stop();
    file.close();
  }
});

test("startFileDigests: this thread hashes when the worker fails", async () => {
  const { path, digests } = randomFile();

  assert.deepEqual(await digestsOf(path, { workerFile: "./no-such-worker.cjs" }), digests);
});

test("startFileDigests: this thread hashes when no thread starts", async () => {
  const { path, digests } = randomFile();

  // A worker path without "./" makes the Worker constructor throw, as it
  // does when the system refuses a new thread (EAGAIN).
  assert.deepEqual(await digestsOf(path, { workerFile: "no-such-worker.cjs" }), digests);
});

test("startFileDigests: a prestarted worker that failed is replaced", async () => {
  const { path, digests } = randomFile();
  prestartDigestWorker("./no-such-worker.cjs");
  // Long enough for the worker's start to fail.
  await sleep(1000);

  assert.deepEqual(await digestsOf(path), digests);
});

test("startFileDigests: a prestarted worker that fails later", async () => {
  const { path, digests } = randomFile();
  prestartDigestWorker("./no-such-worker.cjs");

  assert.deepEqual(await digestsOf(path), digests);
});
