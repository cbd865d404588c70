// The README's first quick-start command, end to end: prepare the host,
// build the bundled guest twice in its pinned container, sign with a demo
// key, verify. Runs the real script against the real Docker engine.
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { execa } from "execa";
import { packagePath } from "../../config/package-root.js";

test("demo: builds, signs and verifies minitd", { timeout: 600_000 }, async () => {
  const dir = await mkdtemp(join(tmpdir(), "migtd-repro-demo-"));
  const out = join(dir, "out");

  try {
    const result = await execa("bash", [packagePath("scripts", "demo.sh"), out], {
      cwd: packagePath(),
      reject: false,
      stdin: "ignore",
    });

    assert.equal(result.exitCode, 0, result.stderr.slice(-2000));
    assert.match(result.stderr, /key made for this demo only/);
    assert.match(result.stdout, /reproducible: 2 builds identical/);
    assert.match(result.stdout, /^verified: .*minitd\.bin$/m);
    assert.doesNotMatch(result.stdout, /^ *FAIL/m);

    for (const name of [
      "minitd.bin",
      "minitd.build.json",
      "minitd.servtd_info_hash",
      "minitd.intoto.jsonl",
      "SHA256SUMS",
      "SHA384SUMS",
    ]) {
      assert.ok(existsSync(join(out, name)), `${name} is missing`);
    }
    assert.ok(existsSync(join(dir, "demo-key", "signing-key.pem")));

    // The checksum files are checked by coreutils, not by this project.
    const sums = await execa("sha256sum", ["--check", "--strict", "SHA256SUMS"], { cwd: out });
    assert.match(sums.stdout, /^minitd\.bin: OK$/m);
    const sums384 = await execa("sha384sum", ["--check", "--strict", "SHA384SUMS"], { cwd: out });
    assert.match(sums384.stdout, /^minitd\.bin: OK$/m);

    const hash = (await readFile(join(out, "minitd.servtd_info_hash"), "utf8")).trim();
    assert.match(hash, /^[0-9a-f]{96}$/);
    assert.match(result.stdout, new RegExp(`SERVTD_INFO_HASH ${hash}`));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
