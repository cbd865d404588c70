import assert from "node:assert/strict";
import { PublishError } from "../../../pipeline/publish/errors.js";

/** Awaits a promise that must reject with a PublishError, and returns the error. */
export async function publishErrorOf(promise: Promise<unknown>): Promise<PublishError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof PublishError, `expected a PublishError, got ${String(error)}`);
    return error;
  }
  assert.fail("expected the promise to reject");
}
