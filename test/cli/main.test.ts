import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { once } from "node:events";
import { createServer } from "node:net";
import type { AddressInfo } from "node:net";
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

test("cli: full disk on stdout exits 3", () => {
  const full = spawnSync("sh", ["-c", `"${process.execPath}" "${CLI}" --help >/dev/full`], { encoding: "utf8" });

  assert.equal(full.status, 3);
  assert.equal(full.stderr, "migtd-repro: cannot write to standard output: ENOSPC: no space left on device, write\n");
});

test("cli: closed stdout pipe keeps the status", () => {
  // head reads one byte and exits, so later writes fail with EPIPE.
  const result = spawnSync("bash", ["-o", "pipefail", "-c", `"${process.execPath}" "${CLI}" --help | head -c 1 >/dev/null`], {
    encoding: "utf8",
  });

  assert.equal(result.status, 0, result.stderr);
  assert.equal(result.stderr, "");
});

for (const signal of ["SIGINT", "SIGTERM"] as const) {
  test(`cli: ${signal} exits 130`, async () => {
    // A server on 127.0.0.1 that accepts connections and never responds
    // keeps verify --github waiting until the signal.
    const sockets: import("node:net").Socket[] = [];
    const server = createServer((socket) => sockets.push(socket));
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    const apiUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      const child = spawn(process.execPath, [CLI, "verify", "--github", "acme/migtd", "--tag", "v1", "--api-url", apiUrl], {
        stdio: "ignore",
      });
      await once(server, "connection");
      child.kill(signal);
      const [code] = await once(child, "exit");

      assert.equal(code, 130);
    } finally {
      for (const socket of sockets) socket.destroy();
      server.close();
    }
  });
}
