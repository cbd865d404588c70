import assert from "node:assert/strict";
import { once } from "node:events";
import { closeSync, openSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { test } from "node:test";
import { prestartDigestWorker, takePrestartedWorker } from "../../cli/digest-prestart.cjs";
import { tempDir } from "../helpers/cli.js";

test("takePrestartedWorker: none before a prestart", () => {
  assert.equal(takePrestartedWorker(), undefined);
});

test("takePrestartedWorker: hands out the prestarted worker once", async () => {
  prestartDigestWorker();
  const worker = takePrestartedWorker();

  assert.ok(worker, "the prestarted worker");
  assert.equal(takePrestartedWorker(), undefined);
  await worker.terminate();
});

test("takePrestartedWorker: a second prestart keeps the first worker", async () => {
  prestartDigestWorker();
  prestartDigestWorker("./no-such-worker.cjs");
  const worker = takePrestartedWorker();

  assert.ok(worker, "the first prestarted worker");
  // The first worker's file exists, so it hashes a job: "abc", the test
  // message of FIPS 180-2 whose digests its appendices give.
  const path = join(tempDir(), "abc.txt");
  writeFileSync(path, "abc");
  const fd = openSync(path, "r");
  try {
    worker.postMessage({ fd, size: 3, claim: new Int32Array(new SharedArrayBuffer(4)) });
    const [message] = (await once(worker, "message")) as [{ sha256?: string; sha384?: string }];
    assert.equal(message.sha256, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    assert.equal(
      message.sha384,
      "cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed8086072ba1e7cc2358baeca134c825a7",
    );
  } finally {
    closeSync(fd);
    await worker.terminate();
  }
});

test("takePrestartedWorker: not a worker that failed to start", async () => {
  prestartDigestWorker("./no-such-worker.cjs");
  // Long enough for the worker's start to fail.
  await sleep(1000);

  assert.equal(takePrestartedWorker(), undefined);
});

test("prestartDigestWorker: no throw when no thread starts", () => {
  // A worker path without "./" makes the Worker constructor throw.
  assert.doesNotThrow(() => prestartDigestWorker("no-such-worker.cjs"));
  assert.equal(takePrestartedWorker(), undefined);
});
