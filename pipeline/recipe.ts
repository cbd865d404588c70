import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { dirname, isAbsolute, resolve } from "node:path";
import { packagePath } from "../config/package-root.js";
import { BuildError } from "./errors.js";
import { readInputFile } from "./read-input.js";
import { RecipeSchema, type Recipe } from "./recipe-schema.js";

/** The guest that `migtd-repro build` builds when no recipe is named. */
export const DEFAULT_RECIPE = "minitd";

export interface LoadedRecipe {
  recipe: Recipe;
  /** Absolute path of the recipe file. */
  path: string;
  /** Folder that relative paths in the recipe are resolved against. */
  dir: string;
  /** SHA-256 of the recipe file's bytes, hex. */
  sha256: string;
  /** The bundled guest's name, or the path as given. */
  reference: string;
}

/**
 * Resolves a recipe reference: a bundled guest's name (`guest/NAME/recipe.json`
 * in the package), or a path to a recipe file or to a folder holding one.
 */
export function recipePath(reference: string): string {
  if (/^[a-z][a-z0-9-]*$/.test(reference)) {
    return packagePath("guest", reference, "recipe.json");
  }
  const path = resolve(reference);
  return path.endsWith(".json") ? path : resolve(path, "recipe.json");
}

/** Reads, parses and validates a recipe file. */
export async function loadRecipe(
  reference: string = DEFAULT_RECIPE,
): Promise<LoadedRecipe> {
  const path = recipePath(reference);
  let bytes: Buffer;
  try {
    bytes = await readInputFile(`recipe '${reference}'`, path);
  } catch (error) {
    if (error instanceof BuildError) throw error;
    throw new BuildError(
      "recipe-not-found",
      `recipe '${reference}' not found: cannot read ${path} ` +
        "(give a bundled guest's name, e.g. 'minitd', or a path to a recipe.json)",
      { cause: error },
    );
  }

  let json: unknown;
  try {
    json = JSON.parse(bytes.toString("utf8"));
  } catch (error) {
    const detail = error instanceof Error ? error.message : String(error);
    throw new BuildError("recipe-invalid", `recipe ${path} is not valid JSON: ${detail}`);
  }

  const parsed = RecipeSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const where = issue.path.join(".") || "(top level)";
    throw new BuildError(
      "recipe-invalid",
      `recipe ${path} is invalid at ${where}: ${issue.message}`,
    );
  }

  const recipe = parsed.data;
  checkOutputs(recipe, path);
  return {
    recipe,
    path,
    dir: dirname(path),
    sha256: createHash("sha256").update(bytes).digest("hex"),
    reference,
  };
}

function checkOutputs(recipe: Recipe, path: string): void {
  const images = recipe.outputs.filter((output) => output.image);
  if (images.length !== 1) {
    throw new BuildError(
      "recipe-invalid",
      `recipe ${path} must mark exactly one output as the image ("image": true), found ${images.length}`,
    );
  }
  for (const output of recipe.outputs) {
    const parts = output.path.split("/");
    if (isAbsolute(output.path) || parts.includes("..")) {
      throw new BuildError(
        "recipe-invalid",
        `recipe ${path}: output path '${output.path}' must be relative to the source path and contain no '..'`,
      );
    }
  }
}

/** Resolves a path from the recipe against the recipe's folder. */
export function recipeFile(loaded: LoadedRecipe, relative: string): string {
  return resolve(loaded.dir, relative);
}

/**
 * Lists what is not pinned in a recipe's builder. A builder is pinned by an
 * image ID or digest, or by a Debian rootfs recipe (exact package versions,
 * checked while it is made). A Dockerfile pins it when its base images are
 * all named by digest and its downloads are checked against a checksum lock.
 * Without an ID or digest, resolveBuilderImage makes the image from the
 * recipe on every build, so an image found by tag is never used.
 * Git sources are always pinned because the schema requires a full commit.
 */
export async function unpinnedParts(loaded: LoadedRecipe): Promise<string[]> {
  const { builder } = loaded.recipe;
  if (builder.image !== undefined || builder.rootfs !== undefined) return [];

  const spec = builder.dockerfile;
  if (spec === undefined) {
    return [`builder image '${builder.tag}' has no ID or digest ("builder.image") and no recipe to make it`];
  }
  const parts: string[] = [];
  const { parseDockerfile } = await import("./plan.js");
  const text = await readFile(recipeFile(loaded, spec.dockerfile), "utf8");
  for (const base of parseDockerfile(text).baseImages) {
    if (!/@sha256:[0-9a-f]{64}$/.test(base)) parts.push(`base image '${base}' in ${spec.dockerfile} is not named by digest`);
  }
  if (spec.checksumLock === undefined) {
    parts.push(`${spec.dockerfile} downloads are not checked against a checksum lock ("checksumLock")`);
  }
  return parts;
}

/**
 * Rejects an unpinned recipe unless the user allowed it; returns whether
 * the result must be marked unpinned.
 */
export async function checkPinned(loaded: LoadedRecipe, allowUnpinned: boolean): Promise<boolean> {
  const parts = await unpinnedParts(loaded);
  if (parts.length === 0) return false;
  if (!allowUnpinned) {
    throw new BuildError(
      "unpinned",
      `recipe ${loaded.path} is not pinned: ${parts.join("; ")}; ` +
        "pin the image by ID or digest, or pass --allow-unpinned to build anyway " +
        "(the result is then marked unpinned)",
    );
  }
  return true;
}
