import assert from "node:assert/strict";
import { chmod, chown, mkdir, mkdtemp, rm, symlink, utimes, writeFile, readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { execa } from "execa";
import { BuildError } from "../../pipeline/errors.js";
import { packSource } from "../../pipeline/source-tar.js";

const folders: string[] = [];
after(async () => {
  for (const dir of folders) await rm(dir, { recursive: true, force: true });
});

async function tree(variant: number): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), "migtd-repro-tree-"));
  folders.push(root);
  // Files are created in a different order per variant, with other times and owners.
  const names = variant === 0 ? ["b.txt", "a.txt"] : ["a.txt", "b.txt"];
  for (const name of names) await writeFile(join(root, name), `${name}\n`);
  await mkdir(join(root, "sub"));
  await writeFile(join(root, "sub", "run.sh"), "#!/bin/sh\n");
  await chmod(join(root, "sub", "run.sh"), 0o750);
  await symlink("sub/run.sh", join(root, "link"));
  await mkdir(join(root, ".git"));
  await writeFile(join(root, ".git", "HEAD"), `ref: refs/heads/main${variant}\n`);
  await utimes(join(root, "a.txt"), 1000 + variant, 2000 + variant * 1000);
  await chown(join(root, "b.txt"), 1234 + variant, 1234 + variant);
  return root;
}

const normalisation = { uid: 1000, gid: 1000, mtime: 1700000000 };

test("packSource: same tree, same digest", async () => {
  const first = await packSource(await tree(0), normalisation);
  const second = await packSource(await tree(1), normalisation);

  assert.equal(first.sha256, second.sha256);
  assert.equal(first.tar.equals(second.tar), true);
  assert.equal(first.files, 5);
});

test("packSource: entries as GNU tar lists them", async () => {
  const packed = await packSource(await tree(0), normalisation);
  const archive = join(folders[0]!, "..", `migtd-repro-tree-${process.pid}.tar`);
  await writeFile(archive, packed.tar);
  try {
    const listing = (await execa("tar", ["--numeric-owner", "--utc", "-tvf", archive])).stdout.split("\n");
    assert.deepEqual(
      listing.map((line) => line.replace(/\s+/g, " ")),
      [
        "-rw-r--r-- 1000/1000 6 2023-11-14 22:13 a.txt",
        "-rw-r--r-- 1000/1000 6 2023-11-14 22:13 b.txt",
        "lrwxrwxrwx 1000/1000 0 2023-11-14 22:13 link -> sub/run.sh",
        "drwxr-xr-x 1000/1000 0 2023-11-14 22:13 sub/",
        "-rwxr-x--- 1000/1000 10 2023-11-14 22:13 sub/run.sh",
      ],
    );
  } finally {
    await rm(archive, { force: true });
  }
});

test("packSource: keeps git metadata on request", async () => {
  const root = await tree(0);
  const packed = await packSource(root, { ...normalisation, keepGitMetadata: true });

  assert.equal(packed.files, 7);
  assert.ok(packed.tar.includes(Buffer.from(await readFile(join(root, ".git", "HEAD")))));
});

test("packSource: rejects a FIFO", async () => {
  const root = await tree(0);
  await execa("mkfifo", [join(root, "pipe")]);

  await assert.rejects(packSource(root, normalisation), (error: unknown) => {
    assert.ok(error instanceof BuildError);
    assert.equal(error.code, "source-invalid");
    assert.match(error.message, /pipe is a socket, FIFO or device/);
    return true;
  });
});

test("packSource: container tar below source path", async () => {
  const root = await tree(0);
  await chmod(root, 0o755);
  const packed = await packSource(root, { ...normalisation, containerPath: "/home/builder/src" });
  const archive = `${root}.tar`;
  await writeFile(archive, packed.containerTar!);
  try {
    const names = (await execa("tar", ["-tf", archive])).stdout.split("\n");
    assert.deepEqual(names, [
      "home/builder/src/",
      "home/builder/src/a.txt",
      "home/builder/src/b.txt",
      "home/builder/src/link",
      "home/builder/src/sub/",
      "home/builder/src/sub/run.sh",
    ]);
    const first = (await execa("tar", ["--numeric-owner", "--utc", "-tvf", archive])).stdout.split("\n")[0]!;
    assert.equal(first.replace(/\s+/g, " "), "drwxr-xr-x 1000/1000 0 2023-11-14 22:13 home/builder/src/");
  } finally {
    await rm(archive, { force: true });
  }
});
