import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { test } from "node:test";
import { packagePath } from "../../config/package-root.js";

const CLI = packagePath("dist", "bin", "migtd-repro.cjs");

function runCli(...args: string[]) {
  return spawnSync(process.execPath, [CLI, ...args], { encoding: "utf8" });
}

test("cli: --help lists every command and exit status", () => {
  const result = runCli("--help");

  assert.equal(result.status, 0);
  for (const name of ["build", "hash", "measure", "enroll", "verify", "publish"]) {
    assert.match(result.stdout, new RegExp(`^  ${name} `, "m"));
  }
  assert.match(result.stdout, /^  3 +environment problem/m);
});

test("cli: unknown command exits 2 with one line", () => {
  const result = runCli("frobnicate");

  assert.equal(result.status, 2);
  assert.equal(result.stderr, "migtd-repro: unknown command 'frobnicate' (see 'migtd-repro --help')\n");
});

test("cli: no command prints usage and exits 2", () => {
  const result = runCli();

  assert.equal(result.status, 2);
  assert.match(result.stdout, /^Usage: migtd-repro COMMAND/);
});
