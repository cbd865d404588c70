// Fault cases of the build pipeline against the real Docker engine: each
// must fail with a stable code and leave no container and no output behind.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, test } from "node:test";
import Docker from "dockerode";
import { runBuild, type BuildRequest } from "../../pipeline/build.js";
import { BuildError, type BuildErrorCode } from "../../pipeline/errors.js";
import { loadBusyboxImage, type TestImage } from "./busybox-image.js";
import {
  assertNothingLeft,
  labelledContainers,
  removeTestRecipes,
  writeTestRecipe,
  type RecipeOverrides,
} from "./test-recipe.js";

const docker = new Docker();
let image: TestImage;

before(async () => {
  image = await loadBusyboxImage(docker, `migtd-repro-test/busybox:faults-${process.pid}`);
});
after(async () => {
  await image.remove();
  await removeTestRecipes();
});

/** Runs a build of a test recipe that must fail with `code`; returns the error. */
async function expectFailure(
  overrides: RecipeOverrides,
  code: BuildErrorCode,
  request: Partial<BuildRequest> = {},
): Promise<BuildError> {
  const recipe = await writeTestRecipe(image.id, image.tag, overrides);
  const buildId = `fault-${randomBytes(4).toString("hex")}`;
  let caught: unknown;
  try {
    await runBuild({ recipe: recipe.path, out: recipe.outDir, rebuilds: 1, buildId, ...request });
  } catch (error) {
    caught = error;
  }
  assert.ok(caught instanceof BuildError, `expected a BuildError, got ${String(caught)}`);
  assert.equal(caught.code, code, caught.message);
  await assertNothingLeft(docker, buildId, recipe.outDir);
  return caught;
}

function shell(script: string): RecipeOverrides["phases"] {
  return [{ name: "build", command: ["sh", "-c", script], network: false }];
}

test("build fault: engine not reachable", async () => {
  const saved = process.env.DOCKER_HOST;
  process.env.DOCKER_HOST = "unix:///nonexistent/docker.sock";
  try {
    const error = await expectFailure({}, "engine-unreachable");
    assert.equal(error.kind, "environment");
    assert.match(error.message, /unix:\/\/\/nonexistent\/docker\.sock/);
    assert.match(error.message, /setup-host\.sh/);
  } finally {
    if (saved === undefined) delete process.env.DOCKER_HOST;
    else process.env.DOCKER_HOST = saved;
  }
});

test("build fault: image missing, not buildable", async () => {
  const error = await expectFailure(
    { builder: { image: `sha256:${"0".repeat(64)}`, tag: "migtd-repro-test/absent:1" } },
    "image-missing",
  );
  assert.equal(error.kind, "environment");
  assert.match(error.message, /docker load/);
});

test("build fault: pin mismatch on tag", async () => {
  const error = await expectFailure({ builder: { image: `sha256:${"1".repeat(64)}` } }, "pin-mismatch");
  assert.equal(error.kind, "invalid-input");
  assert.ok(error.message.includes(image.id), error.message);
});

test("build fault: unpinned image rejected", async () => {
  const error = await expectFailure({ builder: { image: undefined } }, "unpinned");
  assert.equal(error.kind, "invalid-input");
  assert.match(error.message, /--allow-unpinned/);
});

test("build fault: command exit code and tail", async () => {
  const script = "i=1; while [ $i -le 60 ]; do echo line$i; i=$((i+1)); done; exit 3";
  const error = await expectFailure({ phases: shell(script) }, "command-failed");
  assert.equal(error.kind, "build-failed");
  assert.equal(error.exitCode, 3);
  assert.match(error.message, /exited with code 3/);
  assert.equal(error.logTail.length, 50);
  assert.equal(error.logTail[0], "line11");
  assert.equal(error.logTail[49], "line60");
});

test("build fault: timeout kills the build", async () => {
  const started = Date.now();
  const error = await expectFailure({ phases: shell("echo waiting; sleep 60"), timeoutSeconds: 2 }, "timeout");
  assert.equal(error.kind, "build-failed");
  assert.match(error.message, /exceeded 2 s/);
  assert.ok(Date.now() - started < 20_000, "the timeout did not stop the build promptly");
});

test("build fault: out of memory is 137", async () => {
  const error = await expectFailure(
    { phases: shell("dd if=/dev/zero of=/dev/null bs=256M count=1"), limits: { memoryBytes: 32 * 1024 * 1024 } },
    "out-of-memory",
  );
  assert.equal(error.exitCode, 137);
  assert.match(error.message, /out of memory: exit code 137/);
});

test("build fault: missing output", async () => {
  const error = await expectFailure({ phases: shell("echo built nothing") }, "output-missing");
  assert.equal(error.kind, "build-failed");
  assert.match(error.message, /out\/hello\.bin/);
});

const malicious: Array<[string, string, RecipeOverrides, RegExp]> = [
  ["relative symlink escape", "mkdir -p out && cp hello.txt out/hello.bin && ln -s ../../x out/x", {}, /points outside/],
  ["absolute symlink", "mkdir -p out && cp hello.txt out/hello.bin && ln -s /etc/passwd out/pw", {}, /absolute path/],
  ["image is a symlink", "mkdir -p out && ln -s /etc/passwd out/hello.bin", { outputs: [{ path: "out/hello.bin", image: true, maxBytes: 1024 }] }, /symbolic link/],
  [
    "device file",
    "mkdir -p out && cp hello.txt out/hello.bin && mknod out/null c 1 3",
    { user: { name: "root", uid: 0, gid: 0, home: "/root" }, sourcePath: "/root/src" },
    /character-device/,
  ],
  ["oversize file", "mkdir -p out && head -c 1048576 /dev/zero > out/hello.bin", { outputs: [{ path: "out/hello.bin", image: true, maxBytes: 65536 }] }, /size limit of 65536 bytes/],
];

for (const [name, script, overrides, message] of malicious) {
  test(`build fault: output ${name}`, async () => {
    const outputs = overrides.outputs ?? [
      { path: "out/hello.bin", image: true, maxBytes: 1024 },
      { path: "out", image: false, maxBytes: 4096 },
    ];
    const error = await expectFailure({ ...overrides, outputs, phases: shell(script) }, "output-rejected");
    assert.equal(error.kind, "build-failed");
    assert.match(error.message, message);
  });
}

test("build fault: SIGINT-style abort mid-build", async () => {
  const controller = new AbortController();
  const recipe = await writeTestRecipe(image.id, image.tag, { phases: shell("echo started; sleep 60") });
  const buildId = `fault-${randomBytes(4).toString("hex")}`;
  const build = runBuild({ recipe: recipe.path, out: recipe.outDir, rebuilds: 1, buildId, signal: controller.signal });

  const deadline = Date.now() + 20_000;
  while ((await docker.listContainers({ filters: { label: [`org.migtd-repro.build=${buildId}`], status: ["running"] } })).length === 0) {
    assert.ok(Date.now() < deadline, "the build container never started");
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const started = Date.now();
  controller.abort();

  await assert.rejects(build, (error: unknown) => error instanceof BuildError && error.code === "interrupted");
  assert.ok(Date.now() - started < 15_000, "the abort did not stop the build promptly");
  await assertNothingLeft(docker, buildId, recipe.outDir);
});

test("build fault: abort before containers start", async () => {
  const controller = new AbortController();
  controller.abort();
  const recipe = await writeTestRecipe(image.id, image.tag);
  const buildId = `fault-${randomBytes(4).toString("hex")}`;

  await assert.rejects(
    runBuild({ recipe: recipe.path, out: recipe.outDir, rebuilds: 1, buildId, signal: controller.signal }),
    (error: unknown) => error instanceof BuildError && error.code === "interrupted",
  );
  await assertNothingLeft(docker, buildId, recipe.outDir);
});

test("build fault: engine rejects container limits", async () => {
  // The engine's minimum memory limit is 6 MiB; the CLI checks it first,
  // but a library caller reaches the engine.
  const error = await expectFailure({}, "container-rejected", { memoryBytes: 4 * 1024 * 1024 });
  assert.equal(error.kind, "build-failed");
  assert.match(error.message, /phase 'build'.*[Mm]emory/);
  assert.doesNotMatch(error.message, /\n/);
});

test("build fault: --out is a file", async () => {
  const recipe = await writeTestRecipe(image.id, image.tag);
  const file = join(recipe.dir, "a-file");
  await writeFile(file, "kept\n");
  for (const out of [file, join(file, "below")]) {
    const buildId = `fault-${randomBytes(4).toString("hex")}`;
    await assert.rejects(
      runBuild({ recipe: recipe.path, out, rebuilds: 1, buildId }),
      (error: unknown) => error instanceof BuildError && error.code === "out-invalid" && error.message.includes(file),
    );
    assert.deepEqual(await labelledContainers(docker, buildId), []);
  }
  assert.equal(await readFile(file, "utf8"), "kept\n");
});

test("build fault: too many rebuilds", async () => {
  const error = await expectFailure({}, "input-invalid", { rebuilds: 21 });
  assert.match(error.message, /from 1 to 20, not 21/);
});
