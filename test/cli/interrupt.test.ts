import assert from "node:assert/strict";
import { once } from "node:events";
import { test } from "node:test";
import { interrupt, runInterruptible } from "../../cli/interrupt.js";

// node:test ends the run on a real SIGINT or SIGTERM, so these tests call
// the signals' handler directly. cli/main.test.ts sends real signals.
test("runInterruptible: a signal aborts the build", async () => {
  const run = runInterruptible("0123456789ab", async (abort) => {
    const aborted = once(abort, "abort");
    interrupt();
    await aborted;
    throw new Error("the engine request was cancelled");
  });

  await assert.rejects(run, (error: Error & { code?: string; cause?: Error }) => {
    assert.equal(error.code, "interrupted");
    assert.equal(error.cause?.message, "the engine request was cancelled");
    return true;
  });
});

test("runInterruptible: result without a signal", async () => {
  const result = await runInterruptible("0123456789ab", async (abort) => (abort.aborted ? "aborted" : "built"));

  assert.equal(result, "built");
});
