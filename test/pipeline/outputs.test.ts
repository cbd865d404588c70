import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { lstat, mkdtemp, readdir, readFile, readlink, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { after, test } from "node:test";
import { pack, type Header } from "tar-stream";
import { BuildError } from "../../pipeline/errors.js";
import { extractArchive, type OutputSpec } from "../../pipeline/outputs.js";

type Entry = Partial<Header> & { name: string; data?: string };

/** Builds a tar with tar-stream directly, so any header can be forged. */
async function forgeTar(entries: Entry[]): Promise<Readable> {
  const archive = pack();
  for (const { data, ...header } of entries) {
    await new Promise<void>((resolve, reject) =>
      archive.entry({ mode: 0o644, mtime: new Date(0), ...header }, data ?? "", (error) => (error ? reject(error) : resolve())),
    );
  }
  archive.finalize();
  const chunks: Buffer[] = [];
  for await (const chunk of archive) chunks.push(chunk as Buffer);
  return Readable.from([Buffer.concat(chunks)]);
}

const folders: string[] = [];
async function stagingDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "migtd-repro-outputs-"));
  folders.push(dir);
  return join(dir, "staging");
}
after(async () => {
  for (const dir of folders) await rm(dir, { recursive: true, force: true });
});

const fileOutput: OutputSpec = { path: "target/migtd.bin", image: true, maxBytes: 1024 };
const folderOutput: OutputSpec = { path: "out", image: false, maxBytes: 1024 };

test("extractArchive: regular file with digests", async () => {
  const dir = await stagingDir();
  const files = await extractArchive(await forgeTar([{ name: "migtd.bin", data: "firmware" }]), fileOutput, dir);

  assert.equal(files.length, 1);
  assert.equal(files[0]!.name, "migtd.bin");
  assert.equal(files[0]!.containerPath, "target/migtd.bin");
  assert.equal(files[0]!.size, 8);
  assert.equal(files[0]!.sha256, createHash("sha256").update("firmware").digest("hex"));
  assert.equal(files[0]!.sha384, createHash("sha384").update("firmware").digest("hex"));
  assert.equal(await readFile(join(dir, "migtd.bin"), "utf8"), "firmware");
});

test("extractArchive: folder with internal links", async () => {
  const dir = await stagingDir();
  const files = await extractArchive(
    await forgeTar([
      { name: "out/", type: "directory", mode: 0o755 },
      { name: "out/a.bin", data: "abc" },
      { name: "out/current", type: "symlink", linkname: "a.bin" },
      { name: "out/copy.bin", type: "link", linkname: "out/a.bin" },
    ]),
    folderOutput,
    dir,
  );

  assert.deepEqual(files.map((file) => file.name).sort(), ["out/a.bin", "out/copy.bin"]);
  assert.equal(await readlink(join(dir, "out/current")), "a.bin");
  assert.equal(await readFile(join(dir, "out/copy.bin"), "utf8"), "abc");
});

const rejected: Array<[string, OutputSpec, Entry[], RegExp]> = [
  ["parent traversal", folderOutput, [{ name: "out/../escape", data: "x" }], /contains '\.\.'/],
  ["absolute path", folderOutput, [{ name: "/etc/cron.d/x", data: "x" }], /absolute/],
  ["second root entry", folderOutput, [{ name: "out/a", data: "x" }, { name: "other/b", data: "x" }], /outside the output's folder/],
  ["escaping symlink", folderOutput, [{ name: "out/x", type: "symlink", linkname: "../../etc/passwd" }], /points outside/],
  ["absolute symlink", folderOutput, [{ name: "out/x", type: "symlink", linkname: "/etc/passwd" }], /absolute path '\/etc\/passwd'/],
  [
    "write through symlink",
    folderOutput,
    [
      { name: "out/d", type: "symlink", linkname: "." },
      { name: "out/d/f", data: "x" },
    ],
    /inside the symbolic link 'out\/d'/,
  ],
  ["escaping hard link", folderOutput, [{ name: "out/pw", type: "link", linkname: "etc/passwd" }], /hard link/],
  ["character device", folderOutput, [{ name: "out/null", type: "character-device", devmajor: 1, devminor: 3 }], /character-device/],
  ["block device", folderOutput, [{ name: "out/sda", type: "block-device", devmajor: 8, devminor: 0 }], /block-device/],
  ["fifo", folderOutput, [{ name: "out/pipe", type: "fifo" }], /fifo/],
  ["oversize file", fileOutput, [{ name: "migtd.bin", data: "x".repeat(2048) }], /size limit of 1024 bytes/],
  [
    "oversize folder total",
    folderOutput,
    [
      { name: "out/a", data: "x".repeat(600) },
      { name: "out/b", data: "x".repeat(600) },
    ],
    /size limit of 1024 bytes/,
  ],
  ["image as symlink", fileOutput, [{ name: "migtd.bin", type: "symlink", linkname: "other.bin" }], /not a regular file/],
  ["empty archive", fileOutput, [], /archive is empty/],
];

for (const [name, output, entries, message] of rejected) {
  test(`extractArchive: rejects ${name}`, async () => {
    const dir = await stagingDir();
    await assert.rejects(extractArchive(await forgeTar(entries), output, dir), (error: unknown) => {
      assert.ok(error instanceof BuildError, `expected BuildError, got ${String(error)}`);
      assert.equal(error.code, "output-rejected");
      assert.equal(error.kind, "build-failed");
      assert.match(error.message, message);
      return true;
    });
    const left = await readdir(dir).catch(() => []);
    for (const entry of left) {
      const stats = await lstat(join(dir, entry));
      assert.ok(!stats.isCharacterDevice(), `character device ${entry} was created`);
      assert.ok(!stats.isBlockDevice(), `block device ${entry} was created`);
      assert.ok(!stats.isFIFO(), `FIFO ${entry} was created`);
    }
  });
}
