// Successful builds through the pipeline against the real Docker engine,
// with the busybox test image and the Debian OVMF.fd fixture as the image.
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { chmod, copyFile, mkdir, readFile, readdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, test } from "node:test";
import Docker from "dockerode";
import { execa } from "execa";
import { BuildRecordSchema } from "../../attest/build-record.js";
import { runBuild } from "../../pipeline/build.js";
import { BuildError } from "../../pipeline/errors.js";
import { loadBusyboxImage, type TestImage } from "./busybox-image.js";
import {
  assertNothingLeft,
  labelledContainers,
  OVMF_FIXTURE,
  RA_DISABLED_MEASURE,
  removeTestRecipes,
  writeTestRecipe,
  type RecipeOverrides,
} from "./test-recipe.js";

// From the fixture's README: sha384 of the file and its single-pass MRTD,
// computed with tools outside this project.
const OVMF_SHA384 =
  "fa0dd56f4e3156e03cb377d56b5785bda51999a9c01fcf4e3d00e8848d6fe02a94d95e2c1fab707a000bb08674a7ce6a";
const OVMF_MRTD =
  "4c7206f0f483c524f12c366c711e9049030a8d47c471ee5aa9c4999a08de4057fb887fed0744d5631a212967fb231c47";
// MigTD's RTMR0 check value (upstream policy v2 tcb_mapping.json template).
const SEPARATOR_RTMR =
  "518923b0f955d08da077c96aaba522b9decede61c599cea6c41889cfbea4ae4d50529d96fe4d1afdafb65e7f95bf23c4";

const docker = new Docker();
let image: TestImage;

before(async () => {
  image = await loadBusyboxImage(docker, `migtd-repro-test/busybox:build-${process.pid}`);
});
after(async () => {
  await image.remove();
  await removeTestRecipes();
});

/** Writes a recipe whose build runs `extra`, then copies OVMF.fd to out/ovmf.bin. */
async function ovmfRecipe(extra: string, overrides: RecipeOverrides = {}) {
  const recipe = await writeTestRecipe(image.id, image.tag, {
    phases: [{ name: "build", command: ["sh", "-c", `mkdir -p out && ${extra} && cp OVMF.fd out/ovmf.bin`], network: false }],
    outputs: [{ path: "out/ovmf.bin", image: true, maxBytes: 4 * 1024 * 1024 }],
    measure: RA_DISABLED_MEASURE,
    ...overrides,
  });
  await copyFile(OVMF_FIXTURE, join(recipe.sourceDir, "OVMF.fd"));
  return recipe;
}

test("runBuild: reproducible build and record", async () => {
  const recipe = await ovmfRecipe("true");
  const buildId = `ok-${randomBytes(4).toString("hex")}`;
  const result = await runBuild({ recipe: recipe.path, out: recipe.outDir, rebuilds: 2, buildId });

  assert.equal(result.reproducible, true);
  assert.deepEqual((await readdir(recipe.outDir)).sort(), [
    "ovmf.bin",
    "ovmf.build.json",
    "ovmf.build.log",
    "ovmf.servtd_info_hash",
  ]);
  const record = BuildRecordSchema.parse(JSON.parse(await readFile(join(recipe.outDir, "ovmf.build.json"), "utf8")));
  assert.equal(record.buildId, buildId);
  assert.equal(record.outputs[0]!.sha384, OVMF_SHA384);
  assert.equal(record.measurement.mrtd, OVMF_MRTD);
  assert.equal(record.measurement.rtmr0, SEPARATOR_RTMR);
  assert.equal(record.measurement.rtmr1, SEPARATOR_RTMR);
  const expectedRtmr2 = createHash("sha384")
    .update(Buffer.alloc(48))
    .update(createHash("sha384").update("test_disable_ra_and_accept_all").digest())
    .digest("hex");
  assert.equal(record.measurement.rtmr2, expectedRtmr2);
  assert.equal(
    await readFile(join(recipe.outDir, "ovmf.servtd_info_hash"), "utf8"),
    `${record.measurement.servtdInfoHash}\n`,
  );
  assert.equal(record.reproducibility.builds, 2);
  assert.equal(record.reproducibility.identical, true);
  assert.deepEqual(record.reproducibility.imageSha384, [OVMF_SHA384, OVMF_SHA384]);
  assert.ok(record.reproducibility.variations.includes("hostname"));
  assert.ok(record.reproducibility.variations.includes("umask"));
  assert.equal(record.builder.id, image.id);
  assert.equal(record.builder.pinned, true);
  assert.equal(record.unpinned, false);
  assert.equal(record.phases[0]!.network, "none");
  assert.equal(record.phases[0]!.exitCode, 0);
  assert.equal(record.sourceDateEpoch, 1700000000);
  assert.equal(record.recipe.sha256, createHash("sha256").update(await readFile(recipe.path)).digest("hex"));
  assert.deepEqual(await labelledContainers(docker, buildId), []);
});

test("runBuild: container environment and isolation", async () => {
  process.env.MIGTD_REPRO_HOST_ONLY = "leak";
  const probe = [
    "env | sort > out/env.txt",
    "cat /proc/net/dev > out/net.txt",
    "stat -c '%u %g %Y %a %n' . hello.txt run.sh > out/stat.txt",
    "id -u > out/id.txt",
    "pwd > out/pwd.txt",
  ].join(" && ");
  const recipe = await ovmfRecipe(probe, {
    env: { RECIPE_VAR: "from-recipe" },
    outputs: [
      { path: "out/ovmf.bin", image: true, maxBytes: 4 * 1024 * 1024 },
      { path: "out/env.txt", image: false, maxBytes: 65536 },
      { path: "out/net.txt", image: false, maxBytes: 65536 },
      { path: "out/stat.txt", image: false, maxBytes: 65536 },
      { path: "out/id.txt", image: false, maxBytes: 64 },
      { path: "out/pwd.txt", image: false, maxBytes: 256 },
    ],
  });
  await writeFile(join(recipe.sourceDir, "run.sh"), "#!/bin/sh\n");
  await chmod(join(recipe.sourceDir, "run.sh"), 0o750);
  // With out/ in the source, 'mkdir -p out' leaves the source folder's time alone.
  await mkdir(join(recipe.sourceDir, "out"));
  try {
    await runBuild({ recipe: recipe.path, out: recipe.outDir, rebuilds: 1 });
  } finally {
    delete process.env.MIGTD_REPRO_HOST_ONLY;
  }

  const env = await readFile(join(recipe.outDir, "env.txt"), "utf8");
  assert.doesNotMatch(env, /MIGTD_REPRO_HOST_ONLY/);
  for (const line of ["TZ=UTC", "LC_ALL=C.UTF-8", "SOURCE_DATE_EPOCH=1700000000", "HOME=/home/builder", "RECIPE_VAR=from-recipe"]) {
    assert.ok(env.split("\n").includes(line), `missing ${line} in:\n${env}`);
  }
  const interfaces = (await readFile(join(recipe.outDir, "net.txt"), "utf8"))
    .split("\n")
    .slice(2)
    .filter(Boolean)
    .map((line) => line.trim().split(":")[0]);
  assert.deepEqual(interfaces, ["lo"]);
  assert.equal(
    await readFile(join(recipe.outDir, "stat.txt"), "utf8"),
    "1000 1000 1700000000 755 .\n1000 1000 1700000000 644 hello.txt\n1000 1000 1700000000 750 run.sh\n",
  );
  assert.equal(await readFile(join(recipe.outDir, "id.txt"), "utf8"), "1000\n");
  assert.equal(await readFile(join(recipe.outDir, "pwd.txt"), "utf8"), "/home/builder/src\n");
});

test("runBuild: differing rebuilds are reported", async () => {
  // The hostname differs per build, so byte 64 of the image does too.
  const recipe = await ovmfRecipe("true", {
    phases: [
      {
        name: "build",
        command: ["sh", "-c", "mkdir -p out && cp OVMF.fd out/ovmf.bin && hostname | dd of=out/ovmf.bin bs=1 seek=64 conv=notrunc 2>/dev/null"],
        network: false,
      },
    ],
  });
  const buildId = `diff-${randomBytes(4).toString("hex")}`;
  const result = await runBuild({ recipe: recipe.path, out: recipe.outDir, rebuilds: 2, buildId });

  assert.equal(result.reproducible, false);
  assert.equal(result.record.reproducibility.identical, false);
  assert.notEqual(result.record.reproducibility.imageSha384[0], result.record.reproducibility.imageSha384[1]);
  assert.ok(result.difference);
  assert.equal(result.difference.diff.identical, false);
  assert.ok(result.difference.diff.differingBytes > 0);
  assert.equal(result.difference.diff.ranges[0]!.start >= 64, true);
  assert.ok(existsSync(result.difference.imageA));
  assert.ok(existsSync(result.difference.imageB));
  assert.deepEqual(result.written, []);
  await assertNothingLeft(docker, buildId, recipe.outDir);
});

test("runBuild: git source at a commit", async () => {
  const recipe = await ovmfRecipe("true");
  const repo = recipe.sourceDir;
  const gitEnv = {
    GIT_AUTHOR_NAME: "t",
    GIT_AUTHOR_EMAIL: "t@example.com",
    GIT_COMMITTER_NAME: "t",
    GIT_COMMITTER_EMAIL: "t@example.com",
    GIT_AUTHOR_DATE: "1600000000 +0000",
    GIT_COMMITTER_DATE: "1600000000 +0000",
  };
  await execa("git", ["init", "-q", repo]);
  await execa("git", ["-C", repo, "add", "-A"]);
  await execa("git", ["-C", repo, "commit", "-q", "-m", "fixture"], { env: gitEnv });
  const commit = (await execa("git", ["-C", repo, "rev-parse", "HEAD"])).stdout;
  const tree = (await execa("git", ["-C", repo, "rev-parse", "HEAD^{tree}"])).stdout;

  const result = await runBuild({
    recipe: recipe.path,
    out: recipe.outDir,
    rebuilds: 1,
    source: { kind: "git", url: `file://${repo}`, rev: commit, submodules: true },
  });

  assert.equal(result.record.source.kind, "git");
  assert.equal(result.record.source.commit, commit);
  assert.equal(result.record.source.tree, tree);
  assert.equal(result.record.sourceDateEpoch, 1600000000);
  assert.equal(result.record.outputs[0]!.sha384, OVMF_SHA384);
});

test("runBuild: unknown git commit rejected", async () => {
  const recipe = await ovmfRecipe("true");
  const url = `file://${recipe.sourceDir}`;
  await execa("git", ["init", "-q", recipe.sourceDir]);
  await execa("git", ["-C", recipe.sourceDir, "add", "-A"]);
  await execa("git", ["-C", recipe.sourceDir, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "-m", "one"]);
  await assert.rejects(
    runBuild({
      recipe: recipe.path,
      out: recipe.outDir,
      rebuilds: 1,
      source: { kind: "git", url, rev: "0".repeat(40), submodules: false },
    }),
    (error: unknown) =>
      error instanceof BuildError &&
      error.kind === "invalid-input" &&
      error.message.startsWith(`commit ${"0".repeat(40)} not found in ${url}`),
  );
  assert.equal(existsSync(recipe.outDir), false);
});

test("runBuild: allowed unpinned build is marked", async () => {
  const recipe = await ovmfRecipe("true", { builder: { image: undefined } });
  const result = await runBuild({ recipe: recipe.path, out: recipe.outDir, rebuilds: 1, allowUnpinned: true });

  assert.equal(result.record.unpinned, true);
  assert.equal(result.record.builder.pinned, false);
  assert.equal(result.record.builder.id, image.id);
});

test("runBuild: phases share the source tree", async () => {
  const recipe = await ovmfRecipe("true", {
    phases: [
      { name: "fetch", command: ["sh", "-c", "mkdir -p out && cp OVMF.fd fetched.fd && echo cached > $HOME/cache.txt"], network: false },
      { name: "build", command: ["sh", "-c", "cp fetched.fd out/ovmf.bin && cat $HOME/cache.txt"], network: false },
    ],
    persist: ["/home/builder/cache.txt"],
  });
  const result = await runBuild({ recipe: recipe.path, out: recipe.outDir, rebuilds: 1 });

  assert.deepEqual(result.record.phases.map((phase) => phase.name), ["fetch", "build"]);
  assert.equal(result.record.outputs[0]!.sha384, OVMF_SHA384);
  assert.match(await readFile(result.logPath, "utf8"), /"line":"cached"/);
});

test("runBuild: inputs and options reach the build", async () => {
  const recipe = await ovmfRecipe("cp /opt/policy.json out/policy.json && echo \"$DEBUG_BUILD $LOG_LEVEL\" > out/options.txt", {
    inputs: {
      policy: { description: "migration policy", path: "/opt/policy.json", format: "json", default: "src/hello.txt" },
    },
    options: {
      debug: { description: "debug build", type: "boolean", default: false, env: "DEBUG_BUILD" },
      "log-level": { description: "log level", type: "string", default: "info", env: "LOG_LEVEL", choices: ["info", "trace"] },
    },
    outputs: [
      { path: "out/ovmf.bin", image: true, maxBytes: 4 * 1024 * 1024 },
      { path: "out/policy.json", image: false, maxBytes: 1024 },
      { path: "out/options.txt", image: false, maxBytes: 1024 },
    ],
  });
  const policy = join(recipe.dir, "policy.json");
  await writeFile(policy, '{"policy": 1}\n');
  const result = await runBuild({
    recipe: recipe.path,
    out: recipe.outDir,
    rebuilds: 1,
    inputs: { policy },
    options: { debug: "true", "log-level": "trace" },
  });

  assert.equal(await readFile(join(recipe.outDir, "policy.json"), "utf8"), '{"policy": 1}\n');
  assert.equal(await readFile(join(recipe.outDir, "options.txt"), "utf8"), "1 trace\n");
  assert.equal(result.record.inputs.policy!.sha256, createHash("sha256").update('{"policy": 1}\n').digest("hex"));
  assert.deepEqual(result.record.options, { debug: true, "log-level": "trace" });
});

test("runBuild: git tag must match commit", async () => {
  const recipe = await ovmfRecipe("true");
  const repo = recipe.sourceDir;
  await execa("git", ["init", "-q", repo]);
  await execa("git", ["-C", repo, "add", "-A"]);
  await execa("git", ["-C", repo, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "-m", "one"]);
  const first = (await execa("git", ["-C", repo, "rev-parse", "HEAD"])).stdout;
  await execa("git", ["-C", repo, "tag", "v1"]);
  await execa("git", ["-C", repo, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "--allow-empty", "-m", "two"]);
  const second = (await execa("git", ["-C", repo, "rev-parse", "HEAD"])).stdout;
  const source = (rev: string) => ({ kind: "git" as const, url: `file://${repo}`, rev, submodules: false });

  // Upper-case hex names the same commit.
  const tagged = await runBuild({ recipe: recipe.path, out: recipe.outDir, rebuilds: 1, source: source(first.toUpperCase()), tag: "v1" });
  assert.equal(tagged.record.source.commit, first);
  assert.equal(tagged.record.env.MIGTD_REPRO_SOURCE_TAG, "v1");
  assert.equal(tagged.record.env.MIGTD_REPRO_SOURCE_REV, first);

  await assert.rejects(
    runBuild({ recipe: recipe.path, out: join(recipe.dir, "out2"), rebuilds: 1, source: source(second), tag: "v1" }),
    new RegExp(`tag 'v1' of .* points at ${first}, not at the pinned commit ${second}`),
  );
  await assert.rejects(
    runBuild({ recipe: recipe.path, out: join(recipe.dir, "out2"), rebuilds: 1, source: source(second), tag: "nosuch" }),
    /tag 'nosuch' does not exist in .*; check --tag or drop it/,
  );
  assert.equal(existsSync(join(recipe.dir, "out2")), false);
});

test("runBuild: Dockerfile builder with source files", async () => {
  const tag = `migtd-repro-test/dockerfile:${randomBytes(4).toString("hex")}`;
  const recipe = await ovmfRecipe("cp /opt/version.txt out/version.txt", {
    builder: {
      image: undefined,
      tag,
      dockerfile: { dockerfile: "context/Dockerfile", context: "context", buildArgs: {}, sourceFiles: { "hello.txt": "source/version.txt" } },
    },
    outputs: [
      { path: "out/ovmf.bin", image: true, maxBytes: 4 * 1024 * 1024 },
      { path: "out/version.txt", image: false, maxBytes: 1024 },
    ],
  });
  await execa("mkdir", ["-p", join(recipe.dir, "context")]);
  await writeFile(join(recipe.dir, "context", "Dockerfile"), `FROM ${image.tag}\nCOPY source/version.txt /opt/version.txt\n`);

  try {
    await assert.rejects(
      runBuild({ recipe: recipe.path, out: recipe.outDir, rebuilds: 1 }),
      /is not pinned: base image '.*' in context\/Dockerfile is not named by digest; context\/Dockerfile downloads are not checked/,
    );
    const result = await runBuild({ recipe: recipe.path, out: recipe.outDir, rebuilds: 1, allowUnpinned: true });

    assert.equal(result.record.builder.origin, "dockerfile");
    assert.equal(result.record.unpinned, true);
    assert.equal(result.record.builder.id, (await docker.getImage(tag).inspect()).Id);
    assert.equal(await readFile(join(recipe.outDir, "version.txt"), "utf8"), "hello\n");
  } finally {
    await docker.getImage(tag).remove().catch(() => {});
  }
});

test("runBuild: Dockerfile builder ignores tampered tag", async () => {
  const tag = `migtd-repro-test/tampered:${randomBytes(4).toString("hex")}`;
  const recipe = await ovmfRecipe("test ! -e /tampered", {
    builder: { image: undefined, tag, dockerfile: { dockerfile: "context/Dockerfile", context: "context", buildArgs: {} } },
  });
  await mkdir(join(recipe.dir, "context"));
  await writeFile(join(recipe.dir, "context", "Dockerfile"), `FROM ${image.tag}\nENV RECIPE=1\n`);
  // The tag already names another image made from the same base.
  await execa("docker", ["build", "-q", "-t", tag, "-"], { input: `FROM ${image.tag}\nRUN touch /tampered\n` });
  const tampered = (await docker.getImage(tag).inspect()).Id;

  try {
    const result = await runBuild({ recipe: recipe.path, out: recipe.outDir, rebuilds: 1, allowUnpinned: true });

    assert.equal(result.record.builder.origin, "dockerfile");
    assert.notEqual(result.record.builder.id, tampered);
    const made = await docker.getImage(result.record.builder.id).inspect();
    assert.ok(made.Config.Env.includes("RECIPE=1"), "the recorded image is not the recipe's");
  } finally {
    await docker.getImage(tag).remove().catch(() => {});
    await docker.getImage(tampered).remove().catch(() => {});
  }
});
