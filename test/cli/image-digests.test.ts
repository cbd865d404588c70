import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { startImageDigests } from "../../cli/image-digests.js";
import { fillPseudoRandom } from "../helpers/tdshim-image.js";

const bytes = Buffer.alloc(3 * 1024 * 1024 + 17);
fillPseudoRandom(bytes, 5);
const dir = mkdtempSync(join(tmpdir(), "digests-"));
process.once("exit", () => rmSync(dir, { recursive: true, force: true }));
const path = join(dir, "image.bin");
writeFileSync(path, bytes);

function openssl(algorithm: string): string {
  return execFileSync("openssl", ["dgst", `-${algorithm}`, "-r", path]).toString().split(" ")[0]!;
}

for (const parallel of [true, false]) {
  test(`image digests: ${parallel ? "thread pool" : "main thread"} match openssl`, async () => {
    const digests = await startImageDigests(bytes, parallel);

    assert.equal(digests.sha256, openssl("sha256"));
    assert.equal(digests.sha384, openssl("sha384"));
  });
}
