import assert from "node:assert/strict";
import { chown, mkdir, mkdtemp, readFile, rm, stat, symlink, link, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import Docker from "dockerode";
import { execa } from "execa";
import pino from "pino";
import { packagePath } from "../../config/package-root.js";
import { ensureBuilderImage, makeBuilderImage } from "../../pipeline/builder-image.js";
import { imageConfig, loadDockerArchive, writeLayerTar } from "../../pipeline/docker-archive.js";
import { BuildError } from "../../pipeline/errors.js";
import { RecipeSchema, type Recipe } from "../../pipeline/recipe-schema.js";
import { addBuildUser, checkPackages, normaliseRootfs } from "../../pipeline/rootfs.js";

const EPOCH = 1796083200; // 2026-12-01T00:00:00Z
const EPOCH_DAY = 20788; // EPOCH / 86400
const RECIPE_DIR = packagePath("guest", "minitd");
const log = pino({ level: "warn" });

let work: string;
let docker: Docker;
let recipe: Recipe;

before(async () => {
  work = await mkdtemp(join(tmpdir(), "builder-image-test-"));
  docker = new Docker();
  const text = await readFile(join(RECIPE_DIR, "recipe.json"), "utf8");
  recipe = RecipeSchema.parse(JSON.parse(text));
});

after(async () => {
  await rm(work, { recursive: true, force: true });
});

async function makeTree(name: string): Promise<string> {
  const root = join(work, name);
  await mkdir(join(root, "b"), { recursive: true });
  await mkdir(join(root, "a"), { recursive: true });
  await writeFile(join(root, "a", "z"), "zed\n");
  await writeFile(join(root, "a", "y"), "why\n", { mode: 0o4755 });
  await link(join(root, "a", "y"), join(root, "c"));
  await symlink("a/z", join(root, "s"));
  await chown(join(root, "a", "z"), 1234, 4321);
  return root;
}

test("layer tar: sorted entries, fixed time", async () => {
  const root = await makeTree("sorted");
  const destination = join(work, "sorted.tar");

  const layer = await writeLayerTar(root, destination, EPOCH);

  const listing = await execa(
    "tar",
    ["--list", "--verbose", "--numeric-owner", "--full-time", "--file", destination],
    { env: { TZ: "UTC" } },
  );
  const rows = listing.stdout.split("\n").map((line) => line.split(/\s+/));
  assert.deepEqual(
    rows.map((row) => row.slice(5).join(" ")),
    ["a", "a/y", "a/z", "b", "c link to a/y", "s -> a/z"],
  );
  for (const row of rows) assert.equal(`${row[3]} ${row[4]}`, "2026-12-01 00:00:00");
  assert.equal(rows[1]![0], "-rwsr-xr-x");
  assert.equal(rows[2]![1], "1234/4321");
  assert.equal(rows[0]![1], "0/0");

  const sum = await execa("sha256sum", [destination]);
  assert.equal(layer.diffId, `sha256:${sum.stdout.split(" ")[0]}`);
  assert.equal(layer.bytes, (await stat(destination)).size);
  assert.equal(layer.entries, 6);
});

test("layer tar: same tree, same bytes", async () => {
  const first = await writeLayerTar(await makeTree("again-1"), join(work, "again-1.tar"), EPOCH);
  const second = await writeLayerTar(await makeTree("again-2"), join(work, "again-2.tar"), EPOCH);

  assert.equal(first.diffId, second.diffId);
});

test("layer tar: rejects a FIFO", async () => {
  const root = join(work, "fifo");
  await mkdir(root);
  await execa("mkfifo", [join(root, "pipe")]);

  await assert.rejects(
    writeLayerTar(root, join(work, "fifo.tar"), EPOCH),
    (error: unknown) => error instanceof BuildError && error.code === "image-build-failed",
  );
});

test("docker archive: image ID is config SHA-256", async () => {
  const root = join(work, "tiny");
  await mkdir(root);
  await writeFile(join(root, "hello"), "hello\n");
  const layer = await writeLayerTar(root, join(work, "tiny.tar"), EPOCH);
  const config = imageConfig({
    diffId: layer.diffId,
    created: EPOCH,
    user: "1000:1000",
    env: ["PATH=/bin"],
    workingDir: "/",
    createdBy: "builder-image test",
  });
  const configPath = join(work, "tiny-config.json");
  await writeFile(configPath, config);
  const expected = `sha256:${(await execa("sha256sum", [configPath])).stdout.split(" ")[0]}`;
  const tag = `migtd-repro-test/docker-archive:${process.pid}`;

  try {
    const id = await loadDockerArchive(docker, config, layer, tag);
    const inspected = await docker.getImage(tag).inspect();

    assert.equal(id, expected);
    assert.equal(inspected.Id, expected);
    assert.equal(inspected.Created, "2026-12-01T00:00:00Z");
    assert.equal(inspected.Config.User, "1000:1000");
  } finally {
    await docker.getImage(tag).remove({ force: true }).catch(() => undefined);
  }
});

test("rootfs: package check lists differences", async () => {
  const root = join(work, "packages");
  await mkdir(join(root, "var/lib/dpkg"), { recursive: true });
  const paragraph = (name: string, version: string, status = "install ok installed") =>
    `Package: ${name}\nStatus: ${status}\nPriority: required\nVersion: ${version}\n`;
  await writeFile(
    join(root, "var/lib/dpkg/status"),
    [
      paragraph("dash", "0.5.12-2"),
      paragraph("nasm", "2.16.01-2"),
      paragraph("extra", "1.0"),
      paragraph("removed", "2.0", "deinstall ok config-files"),
    ].join("\n"),
  );
  const expected = { dash: "0.5.12-2", nasm: "2.16.01-1", libc6: "2.36-9" };

  await assert.rejects(checkPackages(root, expected, "http://mirror.test/debian"), (error: unknown) => {
    assert.ok(error instanceof BuildError);
    assert.equal(error.code, "builder-packages-differ");
    assert.equal(error.kind, "environment");
    assert.match(error.message, /nasm is 2\.16\.01-2, not 2\.16\.01-1/);
    assert.match(error.message, /libc6 2\.36-9 is not installed/);
    assert.match(error.message, /extra 1\.0 is installed but not in the recipe/);
    assert.doesNotMatch(error.message, /removed|dash/);
    assert.match(error.message, /snapshot\.debian\.org/);
    return true;
  });
  await checkPackages(root, { dash: "0.5.12-2", nasm: "2.16.01-2", extra: "1.0" }, "http://mirror.test/debian");
});

test("rootfs: normalise removes run files", async () => {
  const root = join(work, "normalise");
  const files = {
    "var/log/dpkg.log": "log\n",
    "var/log/apt/history.log": "log\n",
    "var/cache/ldconfig/aux-cache": "cache",
    "var/cache/apt/pkgcache.bin": "cache",
    "var/lib/apt/lists/deb.debian.org_debian_dists_bookworm_InRelease": "list",
    "etc/hostname": "vm\n",
    "etc/resolv.conf": "nameserver 127.0.0.1\n",
    "dev/null": "",
    "etc/shadow": "root:*:20791:0:99999:7:::\nnobody:*:20790:0:99999:7:::\nlocked:!::0:99999:7:::\n",
    "etc/passwd": "root:x:0:0:root:/root:/bin/bash\n",
  };
  for (const [path, text] of Object.entries(files)) {
    await mkdir(join(root, path, ".."), { recursive: true });
    await writeFile(join(root, path), text);
  }

  await normaliseRootfs(root, EPOCH);

  for (const path of Object.keys(files).filter((path) => !path.startsWith("etc/shadow") && path !== "etc/passwd")) {
    await assert.rejects(stat(join(root, path)), { code: "ENOENT" }, path);
  }
  assert.ok((await stat(join(root, "var/log"))).isDirectory());
  assert.ok((await stat(join(root, "var/lib/apt/lists/partial"))).isDirectory());
  assert.equal(
    await readFile(join(root, "etc/shadow"), "utf8"),
    `root:*:${EPOCH_DAY}:0:99999:7:::\nnobody:*:${EPOCH_DAY}:0:99999:7:::\nlocked:!::0:99999:7:::\n`,
  );
  assert.equal(await readFile(join(root, "etc/passwd"), "utf8"), files["etc/passwd"]);
});

async function accountTree(name: string): Promise<string> {
  const root = join(work, name);
  await mkdir(join(root, "etc"), { recursive: true });
  await writeFile(join(root, "etc/passwd"), "root:x:0:0:root:/root:/bin/bash\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n");
  await writeFile(join(root, "etc/group"), "root:x:0:\nnogroup:x:65534:\n");
  await writeFile(join(root, "etc/shadow"), "root:*:20788:0:99999:7:::\n");
  await writeFile(join(root, "etc/gshadow"), "root:*::\n");
  return root;
}

test("rootfs: build user is added", async () => {
  const root = await accountTree("user");
  const user = { name: "builder", uid: 1000, gid: 1001, home: "/home/builder" };

  await addBuildUser(root, user, "/home/builder/src", EPOCH);

  assert.match(await readFile(join(root, "etc/passwd"), "utf8"), /\nbuilder:x:1000:1001::\/home\/builder:\/bin\/sh\n$/);
  assert.match(await readFile(join(root, "etc/group"), "utf8"), /\nbuilder:x:1001:\n$/);
  assert.match(await readFile(join(root, "etc/shadow"), "utf8"), new RegExp(`\nbuilder:!:${EPOCH_DAY}:0:99999:7:::\n$`));
  assert.match(await readFile(join(root, "etc/gshadow"), "utf8"), /\nbuilder:!::\n$/);
  for (const path of ["home/builder", "home/builder/src"]) {
    const info = await stat(join(root, path));
    assert.equal(info.uid, 1000, path);
    assert.equal(info.gid, 1001, path);
  }
  assert.equal((await stat(join(root, "home"))).uid, 0);
});

test("rootfs: build user collision is rejected", async () => {
  const root = await accountTree("collision");
  const user = { name: "builder", uid: 65534, gid: 1000, home: "/home/builder" };

  await assert.rejects(
    addBuildUser(root, user, "/src", EPOCH),
    (error: unknown) =>
      error instanceof BuildError && error.code === "recipe-invalid" && /nobody \(65534\)/.test(error.message),
  );
});

test("builder image: present pin is not rebuilt", async () => {
  // Makes the pinned image if the engine lacks it, then expects a lookup only.
  await ensureBuilderImage(docker, recipe, RECIPE_DIR, log);

  const started = Date.now();
  const result = await ensureBuilderImage(docker, recipe, RECIPE_DIR, log);

  assert.deepEqual(result, { id: recipe.builder.image, built: false });
  assert.ok(Date.now() - started < 5_000);
});

test("builder image: two builds give the pinned ID", { timeout: 600_000 }, async () => {
  // Two debootstrap runs side by side. The second recipe pins a wrong ID,
  // so ensureBuilderImage must make the image and then reject the pin.
  const wrongPin = `sha256:${"0".repeat(64)}`;
  const mispinned = { ...recipe, builder: { ...recipe.builder, image: wrongPin } };

  const [made, rejection] = await Promise.all([
    makeBuilderImage(docker, recipe, log),
    ensureBuilderImage(docker, mispinned, RECIPE_DIR, log).then(
      () => assert.fail("a wrong pin was accepted"),
      (error: unknown) => error,
    ),
  ]);

  assert.equal(made.id, recipe.builder.image);
  assert.ok(rejection instanceof BuildError);
  assert.equal(rejection.code, "pin-mismatch");
  assert.ok(rejection.message.includes(`has ID ${made.id}`), rejection.message);
  assert.ok(rejection.message.includes(`pins ${wrongPin}`), rejection.message);
  assert.equal((await docker.getImage(recipe.builder.tag).inspect()).Id, made.id);
});
