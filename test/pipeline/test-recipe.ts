// Writes throwaway recipes for pipeline tests: the busybox builder image,
// a small source folder and `sh -c` phases.
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { mkdtemp, mkdir, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import Docker from "dockerode";
import type { Recipe } from "../../pipeline/recipe-schema.js";

/** Recipe fields a test may override; the rest get small defaults. */
export type RecipeOverrides = Partial<Omit<Recipe, "builder">> & { builder?: Partial<Recipe["builder"]> };

export interface TestRecipe {
  dir: string;
  path: string;
  sourceDir: string;
  outDir: string;
}

const created: string[] = [];

/** Removes every folder writeTestRecipe made in this process. */
export async function removeTestRecipes(): Promise<void> {
  for (const dir of created.splice(0)) await rm(dir, { recursive: true, force: true });
}

/**
 * Writes `recipe.json` and a source folder (`src/hello.txt`) into a new
 * temporary folder. The default phase copies hello.txt to out/hello.bin.
 */
export async function writeTestRecipe(imageId: string, tag: string, overrides: RecipeOverrides = {}): Promise<TestRecipe> {
  const dir = await mkdtemp(join(tmpdir(), "migtd-repro-recipe-"));
  created.push(dir);
  const sourceDir = join(dir, "src");
  await mkdir(sourceDir);
  await writeFile(join(sourceDir, "hello.txt"), "hello\n");

  const { builder, ...rest } = overrides;
  const recipe = {
    name: "test-guest",
    version: "1",
    description: "pipeline test recipe",
    builder: { image: imageId, tag, ...builder },
    user: { name: "builder", uid: 1000, gid: 1000, home: "/home/builder" },
    sourcePath: "/home/builder/src",
    source: { dir: "src" },
    sourceDateEpoch: 1700000000,
    phases: [{ name: "build", command: ["sh", "-c", "mkdir -p out && cp hello.txt out/hello.bin"] }],
    outputs: [{ path: "out/hello.bin", image: true }],
    ...rest,
  };
  const path = join(dir, "recipe.json");
  await writeFile(path, JSON.stringify(recipe, null, 2));
  return { dir, path, sourceDir, outDir: join(dir, "out") };
}

/** Containers that carry the pipeline's build label with this value, or any value. */
export async function labelledContainers(docker: Docker, buildId?: string): Promise<Docker.ContainerInfo[]> {
  const label = buildId ? `org.migtd-repro.build=${buildId}` : "org.migtd-repro.build";
  return docker.listContainers({ all: true, filters: { label: [label] } });
}

/** Path of the TDVF fixture image that test recipes copy as their output. */
export const OVMF_FIXTURE = join(process.cwd(), "test", "fixtures", "ovmf-debian-bookworm", "OVMF.fd");

/** Measurement settings that need no CFV files, so OVMF.fd can be measured. */
export const RA_DISABLED_MEASURE: Recipe["measure"] = {
  testDisableRaAndAcceptAll: true,
  policyV2: false,
  pageOrder: "single-pass",
};

/** Asserts that a build left no container and nothing in or beside its output folder. */
export async function assertNothingLeft(docker: Docker, buildId: string, outDir: string): Promise<void> {
  const containers = await labelledContainers(docker, buildId);
  assert.deepEqual(
    containers.map((container) => container.Id),
    [],
    `containers of build ${buildId} were left`,
  );
  assert.equal(existsSync(outDir), false, `${outDir} was created`);
  const siblings = await readdir(dirname(outDir));
  assert.deepEqual(
    siblings.filter((name) => name.includes(buildId) && name.endsWith(".partial")),
    [],
    "a staging folder was left beside the output folder",
  );
}
