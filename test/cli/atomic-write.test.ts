import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import {
  chmodSync,
  createReadStream,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { basename, dirname, join } from "node:path";
import { test } from "node:test";
import { OutputFileError, writeFileAtomic } from "../../cli/atomic-write.js";
import { runCli, tempDir } from "../helpers/cli.js";
import { buildMigtdImage, POLICY_GUID, ROOT_CA_GUID } from "../helpers/tdshim-image.js";

const POLICY = Buffer.from('{"policy":1}');
const ROOT_CA = Buffer.from("root CA");

/** Writes an image and enroll's two input files; returns the image path. */
function image(dir: string): string {
  const path = join(dir, "migtd.bin");
  writeFileSync(path, buildMigtdImage({ size: 0x80000, cfvSize: 0x10000, files: [{ guid: POLICY_GUID, data: POLICY }, { guid: ROOT_CA_GUID, data: ROOT_CA }], seed: 3 }).image);
  writeFileSync(join(dir, "policy.json"), POLICY);
  writeFileSync(join(dir, "ca.der"), ROOT_CA);
  return path;
}

function enroll(input: string, output: string): string[] {
  const dir = dirname(input);
  return ["enroll", input, "--policy", join(dir, "policy.json"), "--root-ca", join(dir, "ca.der"), "-o", output];
}

test("writeFileAtomic: missing folder named", async () => {
  const dir = tempDir();
  const path = join(dir, "missing", "out.bin");

  await assert.rejects(writeFileAtomic(path, "x"), (error) => {
    assert.ok(error instanceof OutputFileError);
    assert.equal(error.kind, "invalid-input");
    assert.equal(error.message, `cannot write ${path}: folder ${join(dir, "missing")} does not exist`);
    return true;
  });
  assert.deepEqual(readdirSync(dir), []);
});

test("writeFileAtomic: folder target leaves no file", async () => {
  const parent = tempDir();
  const target = join(parent, "out");
  mkdirSync(target);

  await assert.rejects(writeFileAtomic(target, "x"), { message: `${target} is a folder; give a file path` });
  assert.deepEqual(readdirSync(parent), ["out"]);
  assert.deepEqual(readdirSync(target), []);
});

test("writeFileAtomic: parent that is a file", async () => {
  const dir = tempDir();
  writeFileSync(join(dir, "file"), "");
  const path = join(dir, "file", "out.bin");

  await assert.rejects(writeFileAtomic(path, "x"), { message: `cannot write ${path}: ${join(dir, "file")} is not a folder` });
});

test("cli output: missing folder exits 2", () => {
  const dir = tempDir();
  const input = image(dir);
  const missing = join(dir, "nonexistent", "dir");
  const cases = [
    ["hash", "--image", input, "-o", join(missing, "x")],
    ["hash", "--image", input, "--output-td-info", join(missing, "x")],
    enroll(input, join(missing, "x")),
    ["keygen", join(missing, "x")],
  ];

  for (const args of cases) {
    const result = runCli(args);
    assert.equal(result.status, 2, `${args.join(" ")}: ${result.stderr}`);
    assert.match(result.stderr, new RegExp(`cannot write ${join(missing, "x")}: folder ${missing} does not exist\\n$`));
  }
  assert.deepEqual(readdirSync(dir).sort(), ["ca.der", "migtd.bin", "policy.json"]);
});

test("cli output: folder target exits 2", () => {
  const parent = tempDir();
  const input = image(parent);
  const target = join(parent, "out");
  mkdirSync(target);

  for (const args of [["hash", "--image", input, "-o", target], enroll(input, target)]) {
    const result = runCli(args);
    assert.equal(result.status, 2, `${args.join(" ")}: ${result.stderr}`);
    assert.equal(result.stderr, `migtd-repro: ${target} is a folder; give a file path\n`);
  }
  assert.deepEqual(readdirSync(parent).sort(), ["ca.der", "migtd.bin", "out", "policy.json"]);
  assert.deepEqual(readdirSync(target), []);
});

/** Opens a FIFO for reading and resolves with all it receives until the writer closes. */
function readFifo(path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    createReadStream(path)
      .on("data", (chunk) => chunks.push(Buffer.from(chunk)))
      .on("end", () => resolve(Buffer.concat(chunks).toString()))
      .on("error", reject);
  });
}

function mkfifo(path: string): void {
  const result = spawnSync("mkfifo", [path]);
  assert.equal(result.status, 0, String(result.stderr));
}

test("writeFileAtomic: symlink keeps link, writes target", async () => {
  const dir = tempDir();
  const target = join(dir, "tcb_mapping.json");
  const link = join(dir, "link.json");
  writeFileSync(target, "old", { mode: 0o640 });
  chmodSync(target, 0o640);
  symlinkSync(target, link);

  await writeFileAtomic(link, "new");

  assert.ok(lstatSync(link).isSymbolicLink());
  assert.equal(readlinkSync(link), target);
  assert.equal(readFileSync(target, "utf8"), "new");
  assert.equal(statSync(target).mode & 0o777, 0o640);
  assert.deepEqual(readdirSync(dir).sort(), ["link.json", "tcb_mapping.json"]);
});

test("writeFileAtomic: existing file keeps its mode", async () => {
  const dir = tempDir();
  const path = join(dir, "out.json");
  writeFileSync(path, "old");
  chmodSync(path, 0o600);

  await writeFileAtomic(path, "new");

  assert.equal(readFileSync(path, "utf8"), "new");
  assert.equal(statSync(path).mode & 0o777, 0o600);
});

test("writeFileAtomic: private key mode never widens", async () => {
  const dir = tempDir();
  const existing = join(dir, "old.pem");
  writeFileSync(existing, "old");
  chmodSync(existing, 0o644);
  const fresh = join(dir, "new.pem");

  await writeFileAtomic(existing, "key", { mode: 0o600 });
  await writeFileAtomic(fresh, "key", { mode: 0o600 });

  assert.equal(statSync(existing).mode & 0o777, 0o600);
  assert.equal(statSync(fresh).mode & 0o777, 0o600);
});

test("writeFileAtomic: FIFO written in place", async () => {
  const dir = tempDir();
  const fifo = join(dir, "out.fifo");
  const link = join(dir, "link");
  mkfifo(fifo);
  symlinkSync(fifo, link);

  for (const path of [fifo, link]) {
    const received = readFifo(fifo);
    await writeFileAtomic(path, `through ${basename(path)}`);
    assert.equal(await received, `through ${basename(path)}`);
  }
  assert.ok(lstatSync(fifo).isFIFO());
  assert.ok(lstatSync(link).isSymbolicLink());
  assert.deepEqual(readdirSync(dir).sort(), ["link", "out.fifo"]);
});

test("cli output: -o /dev/stdout writes stdout", () => {
  const dir = tempDir();
  const input = image(dir);
  const before = readlinkSync("/dev/stdout");

  // spawnSync gives the child its own pipe as stdout, so the child's
  // /dev/stdout resolves to that pipe and nothing reaches this process's.
  const piped = runCli(["hash", "--image", input, "-o", "/dev/stdout", "--json"]);
  const replaced = !lstatSync("/dev/stdout").isSymbolicLink();
  if (replaced) {
    // A regression renamed a file over the link: put the link back before failing.
    rmSync("/dev/stdout");
    symlinkSync(before, "/dev/stdout");
  }
  assert.equal(replaced, false, "/dev/stdout was replaced by a regular file");
  assert.equal(readlinkSync("/dev/stdout"), before);

  const printed = runCli(["hash", "--image", input, "--json"]);
  assert.equal(piped.status, 0, piped.stderr);
  assert.equal(printed.status, 0, printed.stderr);
  assert.equal(piped.stdout, JSON.stringify(JSON.parse(printed.stdout)));
});

test("cli output: -o symlink writes its target", () => {
  const dir = tempDir();
  const input = image(dir);
  const target = join(dir, "hash.json");
  const link = join(dir, "link.json");
  writeFileSync(target, "old");
  chmodSync(target, 0o640);
  symlinkSync(target, link);

  const result = runCli(["hash", "--image", input, "-o", link, "--json"]);

  assert.equal(result.status, 0, result.stderr);
  assert.ok(lstatSync(link).isSymbolicLink());
  assert.match(readFileSync(target, "utf8"), /^\{"servtdInfoHash":"[0-9a-f]{96}"\}$/);
  assert.equal(statSync(target).mode & 0o777, 0o640);
});

test("writeFileAtomic: full device is an environment error", async () => {
  // Writes to /dev/full fail with ENOSPC, as on a full disk.
  await assert.rejects(writeFileAtomic("/dev/full", "{}"), (error: unknown) => {
    assert.ok(error instanceof OutputFileError);
    assert.equal(error.kind, "environment");
    assert.equal(error.message, "cannot write /dev/full: no space left on the device; free some space and run again");
    return true;
  });
});
