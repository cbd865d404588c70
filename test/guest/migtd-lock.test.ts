import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdtemp, readFile, readdir, rm, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { execa } from "execa";
import { packagePath } from "../../config/package-root.js";

const SCRIPT = packagePath("guest", "migtd", "scripts", "checksum-lock");

// Files the local server serves; the digests come from node:crypto, not
// from the script under test.
const FILES: Record<string, Buffer> = {
  "/dist/rustup-init": Buffer.from("stand-in rustup-init\n"),
  "/dist/channel-rust-1.88.0.toml": Buffer.from('manifest-version = "2"\n'),
};

function sha256(bytes: Buffer): string {
  return createHash("sha256").update(bytes).digest("hex");
}

let server: Server;
let base: string;
let work: string;

before(async () => {
  server = createServer((request, response) => {
    const body = FILES[request.url ?? ""];
    response.writeHead(body ? 200 : 404).end(body ?? "not found\n");
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  work = await mkdtemp(join(tmpdir(), "migtd-lock-test-"));
});

after(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
  await rm(work, { recursive: true, force: true });
});

async function writeLock(name: string, lines: string[]): Promise<string> {
  const path = join(work, name);
  await writeFile(path, `${lines.join("\n")}\n`);
  return path;
}

function runLock(args: string[], mode?: string) {
  return execa(SCRIPT, args, {
    reject: false,
    env: mode === undefined ? {} : { CHECKSUM_LOCK_MODE: mode },
  });
}

describe("checksum-lock", () => {
  test("checksum-lock: matching entry writes file", async () => {
    const url = `${base}/dist/rustup-init`;
    const lock = await writeLock("match.lock", [`${sha256(FILES["/dist/rustup-init"]!)}  ${url}`]);
    const dest = join(work, "match-rustup-init");

    const result = await runLock(["fetch", lock, url, dest]);

    assert.equal(result.exitCode, 0, result.stderr);
    assert.deepEqual(await readFile(dest), FILES["/dist/rustup-init"]);
  });

  test("checksum-lock: rejects a different digest", async () => {
    const url = `${base}/dist/rustup-init`;
    const wrong = "0".repeat(64);
    const lock = await writeLock("mismatch.lock", [`${wrong}  ${url}`]);
    const dest = join(work, "mismatch-rustup-init");

    const result = await runLock(["fetch", lock, url, dest]);

    assert.equal(result.exitCode, 1);
    assert.match(result.stderr, /sha256 mismatch/);
    assert.ok(result.stderr.includes(url), result.stderr);
    assert.ok(result.stderr.includes(wrong), result.stderr);
    assert.ok(result.stderr.includes(sha256(FILES["/dist/rustup-init"]!)), result.stderr);
    const left = (await readdir(work)).filter((name) => name.startsWith("mismatch-rustup-init"));
    assert.deepEqual(left, [], "no file or partial download is left");
  });

  test("checksum-lock: rejects a missing entry", async () => {
    const url = `${base}/dist/rustup-init`;
    const lock = await writeLock("missing.lock", ["# empty lock"]);
    const dest = join(work, "missing-rustup-init");

    const result = await runLock(["fetch", lock, url, dest]);

    assert.equal(result.exitCode, 1);
    assert.match(result.stderr, /no entry for/);
    assert.ok(result.stderr.includes(url), result.stderr);
    assert.ok(result.stderr.includes(sha256(FILES["/dist/rustup-init"]!)), result.stderr);
    await assert.rejects(readFile(dest), { code: "ENOENT" });
  });

  test("checksum-lock: write mode records entries", async () => {
    const manifest = `${base}/dist/channel-rust-1.88.0.toml`;
    const rustup = `${base}/dist/rustup-init`;
    const lock = await writeLock("write.lock", ["# header comment"]);

    const first = await runLock(["fetch", lock, rustup, join(work, "w1")], "write");
    const second = await runLock(["fetch", lock, manifest, join(work, "w2")], "write");

    assert.equal(first.exitCode, 0, first.stderr);
    assert.equal(second.exitCode, 0, second.stderr);
    const expected = [
      "# header comment",
      `${sha256(FILES["/dist/channel-rust-1.88.0.toml"]!)}  ${manifest}`,
      `${sha256(FILES["/dist/rustup-init"]!)}  ${rustup}`,
      "",
    ].join("\n");
    assert.equal(await readFile(lock, "utf8"), expected);

    const enforced = await runLock(["fetch", lock, rustup, join(work, "w3")]);
    assert.equal(enforced.exitCode, 0, enforced.stderr);
  });

  test("checksum-lock: write mode keeps mismatches fatal", async () => {
    const url = `${base}/dist/rustup-init`;
    const wrong = "1".repeat(64);
    const lock = await writeLock("write-mismatch.lock", [`${wrong}  ${url}`]);

    const result = await runLock(["fetch", lock, url, join(work, "wm")], "write");

    assert.equal(result.exitCode, 1);
    assert.match(result.stderr, /sha256 mismatch/);
    assert.equal(await readFile(lock, "utf8"), `${wrong}  ${url}\n`, "the lock is unchanged");
  });

  test("checksum-lock: check verifies a local file", async () => {
    const url = "http://snapshot.example/dists/resolute/InRelease";
    const bytes = Buffer.from("signed release file\n");
    const file = join(work, "InRelease");
    await writeFile(file, bytes);
    const good = await writeLock("check-good.lock", [`${sha256(bytes)}  ${url}`]);
    const bad = await writeLock("check-bad.lock", [`${"2".repeat(64)}  ${url}`]);

    const accepted = await runLock(["check", good, url, file]);
    const rejected = await runLock(["check", bad, url, file]);

    assert.equal(accepted.exitCode, 0, accepted.stderr);
    assert.equal(rejected.exitCode, 1);
    assert.ok(rejected.stderr.includes(sha256(bytes)), rejected.stderr);
  });

  test("checksum-lock: failed download exits 3", async () => {
    const url = `${base}/dist/absent`;
    const lock = await writeLock("absent.lock", [`${"3".repeat(64)}  ${url}`]);

    const result = await runLock(["fetch", lock, url, join(work, "absent")]);

    assert.equal(result.exitCode, 3);
    assert.ok(result.stderr.includes(url), result.stderr);
  });

  test("checksum-lock: duplicate entries are rejected", async () => {
    const url = `${base}/dist/rustup-init`;
    const digest = sha256(FILES["/dist/rustup-init"]!);
    const lock = await writeLock("duplicate.lock", [`${digest}  ${url}`, `${digest}  ${url}`]);

    const result = await runLock(["fetch", lock, url, join(work, "dup")]);

    assert.equal(result.exitCode, 1);
    assert.match(result.stderr, /2 entries/);
  });

  test("checksum-lock: unknown mode is a usage error", async () => {
    const url = `${base}/dist/rustup-init`;
    const lock = await writeLock("mode.lock", ["# empty"]);

    const result = await runLock(["fetch", lock, url, join(work, "mode")], "append");

    assert.equal(result.exitCode, 2);
    assert.match(result.stderr, /enforce or write/);
  });
});
