// docker/docker.sh: upstream-style usage, errors, the interactive image
// path (run here without a terminal) and the -b pipeline path.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { copyFile, mkdtemp, rm, writeFile } from "node:fs/promises";
import { existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import Docker from "dockerode";
import { execa } from "execa";
import { packagePath } from "../../config/package-root.js";
import { loadBusyboxImage, type TestImage } from "./busybox-image.js";
import { OVMF_FIXTURE, RA_DISABLED_MEASURE, removeTestRecipes, writeTestRecipe } from "./test-recipe.js";

const SCRIPT = packagePath("docker", "docker.sh");
const docker = new Docker();
let image: TestImage;
let work: string;
const builtTag = `migtd-repro-test/docker-sh:${randomBytes(4).toString("hex")}`;

before(async () => {
  image = await loadBusyboxImage(docker, `migtd-repro-test/busybox:docker-sh-${process.pid}`);
  work = await mkdtemp(join(tmpdir(), "migtd-repro-docker-sh-"));
});
after(async () => {
  await docker.getImage(builtTag).remove().catch(() => {});
  await image.remove();
  await rm(work, { recursive: true, force: true });
  await removeTestRecipes();
});

function runScript(args: string[], input?: string) {
  return execa(SCRIPT, args, { reject: false, input, stdin: input === undefined ? "ignore" : undefined });
}

test("docker.sh: -h prints usage", async () => {
  const result = await runScript(["-h"]);

  assert.equal(result.exitCode, 0);
  assert.match(result.stdout, /^Usage: docker\.sh \[OPTION\]\.\.\./);
  assert.match(result.stdout, /^  -f <folder> /m);
  assert.match(result.stdout, /^  -b /m);
});

test("docker.sh: missing Dockerfile is an error", async () => {
  const result = await runScript(["-f", work]);

  assert.equal(result.exitCode, 2);
  assert.equal(result.stderr, `ERROR: ${work}/Dockerfile does not exist; give the folder that contains it with -f.`);
});

test("docker.sh: missing -f is an error", async () => {
  const result = await runScript([]);

  assert.equal(result.exitCode, 2);
  assert.match(result.stderr, /with -f/);
});

test("docker.sh: builds once and runs", async () => {
  await writeFile(join(work, "Dockerfile"), `FROM ${image.tag}\nCMD ["sh", "-c", "read line; echo got:$line"]\n`);
  const first = await runScript(["-f", work, "-t", builtTag], "hello\n");

  assert.equal(first.exitCode, 0, first.stderr);
  assert.match(first.stdout, /got:hello/);
  const id = (await docker.getImage(builtTag).inspect()).Id;

  const second = await runScript(["-f", work, "-t", builtTag], "again\n");
  assert.equal(second.exitCode, 0, second.stderr);
  assert.match(second.stdout, /got:again/);
  assert.equal((await docker.getImage(builtTag).inspect()).Id, id);
});

test("docker.sh: -b runs the pipeline build", async () => {
  const recipe = await writeTestRecipe(image.id, image.tag, {
    phases: [{ name: "build", command: ["sh", "-c", "mkdir -p out && cp OVMF.fd out/ovmf.bin"], network: false }],
    outputs: [{ path: "out/ovmf.bin", image: true, maxBytes: 4 * 1024 * 1024 }],
    measure: RA_DISABLED_MEASURE,
  });
  await copyFile(OVMF_FIXTURE, join(recipe.sourceDir, "OVMF.fd"));
  const result = await runScript(["-b", "--", "--recipe", recipe.path, "--out", recipe.outDir, "--rebuilds", "1"]);

  assert.equal(result.exitCode, 0, result.stderr);
  assert.ok(existsSync(join(recipe.outDir, "ovmf.servtd_info_hash")));
});
