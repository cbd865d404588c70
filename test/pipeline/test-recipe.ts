// Writes throwaway recipes for pipeline tests: the busybox builder image,
// a small source folder and `sh -c` phases.
import { mkdtemp, mkdir, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
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

/**
 * Writes `recipe.json` and a source folder (`src/hello.txt`) into a new
 * temporary folder. The default phase copies hello.txt to out/hello.bin.
 */
export async function writeTestRecipe(imageId: string, tag: string, overrides: RecipeOverrides = {}): Promise<TestRecipe> {
  const dir = await mkdtemp(join(tmpdir(), "migtd-repro-recipe-"));
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
