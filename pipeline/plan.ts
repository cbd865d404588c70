import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { isAbsolute, join, relative } from "node:path";
import { packageRoot } from "../config/package-root.js";
import { phaseCommands, resolveOutputs } from "./commands.js";
import { BuildError } from "./errors.js";
import { measureFlags } from "./measure.js";
import { readInputFile } from "./read-input.js";
import { presetOf, resolveInputs, resolveOptions, type ResolvedInput } from "./parameters.js";
import { loadRecipe, recipeFile, type LoadedRecipe } from "./recipe.js";
import type { Recipe } from "./recipe-schema.js";
import { applyOverrides, chooseInputs, type RecipeOverrides } from "./resolve-recipe.js";

/** The recipe `migtd-repro plan` shows when none is named. */
export const DEFAULT_PLAN_RECIPE = "migtd";

/** Request of one plan, with the same choices a build takes. */
export interface PlanRequest {
  /** Bundled guest name or recipe path. */
  recipe?: string;
  preset?: string;
  /** Option name to value. */
  options?: Record<string, string | boolean>;
  /** Input name to host file. */
  inputs?: Record<string, string>;
  overrides?: RecipeOverrides;
}

export interface PlanInput {
  name: string;
  origin: "user" | "preset" | "recipe-default" | "source-default";
  /** Host file (user or recipe default), shown relative to the working folder. */
  hostFile?: string;
  /** File in the source tree. */
  sourceFile?: string;
  containerPath: string;
  /** Flag and value added to the build command; absent when the build reads its own default. */
  argument?: string[];
  /** Known when the file could be read: a host file, or a source folder was given. */
  sha256?: string;
}

export interface PlanPhase {
  name: string;
  network: boolean;
  command: string[];
  /** Environment this phase adds to the recipe's. */
  env: Record<string, string>;
}

export interface Plan {
  recipe: { name: string; version: string; description: string; file: string; sha256: string };
  preset: { name: string; description: string } | null;
  source:
    | { kind: "git"; url: string; commit: string; tag: string | null; submodules: boolean; keepGitMetadata: boolean }
    | { kind: "dir"; dir: string };
  builder: PlanBuilder;
  user: Recipe["user"];
  sourcePath: string;
  env: Record<string, string>;
  persist: string[];
  options: { name: string; value: string | boolean; origin: "default" | "preset" | "user"; env: string }[];
  inputs: PlanInput[];
  phases: PlanPhase[];
  outputs: { path: string; image: boolean; maxBytes: number }[];
  measure: {
    policyV2: boolean;
    testDisableRaAndAcceptAll: boolean;
    pageOrder: string;
    servtdInfo: string;
    /** The same hash computed with upstream's tool. */
    upstreamCommand: string[];
  };
}

export interface PlanBuilder {
  tag: string;
  /** Image ID or digest the recipe pins; null when the image is pinned only by its inputs. */
  image: string | null;
  dockerfile: {
    file: string;
    context: string;
    /** Images named in FROM lines, other than earlier stages and `scratch`. */
    baseImages: string[];
    /** ARG defaults of the Dockerfile, with the recipe's build arguments applied. */
    buildArgs: Record<string, string>;
    /** Source-tree files copied into the build context, with their content when a source folder was given. */
    sourceFiles: { source: string; context: string; content: string | null }[];
    build: string[];
  } | null;
  rootfs: Recipe["builder"]["rootfs"] | null;
  checksumLock: {
    file: string;
    entries: { url: string; sha256: string }[];
    modeArg: string;
    /** Writes missing entries on a machine with network; the lock is then reviewed and committed. */
    update: string[];
  } | null;
}

/** Resolves a recipe with its options into everything a build would run, without running it. */
export async function makePlan(request: PlanRequest): Promise<Plan> {
  const loaded = applyOverrides(
    await loadRecipe(request.recipe ?? DEFAULT_PLAN_RECIPE),
    request.overrides,
  );
  const { recipe } = loaded;
  const preset = presetOf(loaded, request.preset);
  const given = { ...preset?.options, ...request.options };
  const { values, env: optionEnv } = resolveOptions(loaded, given);
  const sourceDir = "dir" in recipe.source ? recipe.source.dir : undefined;

  const inputs = await planInputs(loaded, request.inputs ?? {}, preset?.sourceInputs ?? {}, values, sourceDir);
  const commands = phaseCommands(recipe, values, inputs.resolved);
  const flags = measureFlags(loaded, values);
  const outputs = resolveOutputs(recipe, values);
  const image = outputs.find((output) => output.image)!;

  return {
    recipe: {
      name: recipe.name,
      version: recipe.version,
      description: recipe.description,
      file: displayPath(loaded.path),
      sha256: loaded.sha256,
    },
    preset: preset ? { name: request.preset!, description: preset.description } : null,
    source: planSource(recipe),
    builder: await planBuilder(loaded, sourceDir),
    user: recipe.user,
    sourcePath: recipe.sourcePath,
    // NOTE: build.ts also sets USER, LOGNAME, SOURCE_DATE_EPOCH, TZ, LANG and
    // LC_ALL in every phase; they are not listed here.
    env: { ...recipe.env, ...optionEnv },
    persist: recipe.persist ?? [],
    options: Object.entries(values).map(([name, value]) => ({
      name,
      value,
      origin: originOf(name, request.options, preset?.options),
      env: recipe.options[name]!.env,
    })),
    inputs: inputs.planned,
    phases: recipe.phases.map((phase, index) => ({
      name: phase.name,
      network: phase.network,
      command: commands[index]!,
      env: phase.env ?? {},
    })),
    outputs: outputs.map(({ path, image, maxBytes }) => ({ path, image, maxBytes })),
    measure: {
      policyV2: flags.policyV2,
      testDisableRaAndAcceptAll: flags.testDisableRaAndAcceptAll,
      pageOrder: flags.pageOrder,
      servtdInfo: displayPath(flags.servtdInfoPath),
      upstreamCommand: [
        "cargo",
        "hash",
        "--image",
        image.path,
        ...(flags.testDisableRaAndAcceptAll ? ["--test-disable-ra-and-accept-all"] : []),
        ...(flags.policyV2 ? ["--policy-v2"] : []),
      ],
    },
  };
}

function originOf(
  name: string,
  user: Record<string, string | boolean> | undefined,
  preset: Record<string, string | boolean> | undefined,
): "default" | "preset" | "user" {
  if (user?.[name] !== undefined) return "user";
  if (preset?.[name] !== undefined) return "preset";
  return "default";
}

/**
 * Chooses the inputs. With a source folder, the build's own resolveInputs
 * reads and hashes every file. Without one, source-tree files are only
 * named and host files are hashed here.
 */
async function planInputs(
  loaded: LoadedRecipe,
  files: Record<string, string>,
  sourceFiles: Record<string, string>,
  options: Record<string, string | boolean>,
  sourceDir: string | undefined,
): Promise<{ resolved: ResolvedInput[]; planned: PlanInput[] }> {
  const choices = chooseInputs(loaded, files, sourceFiles, options);
  const read = sourceDir
    ? await resolveInputs(loaded, { files, sourceFiles, sourceRoot: sourceDir, options })
    : await Promise.all(choices.map((choice) => readChoice(choice.hostPath, choice)));

  const planned = choices.map((choice): PlanInput => {
    const input = read.find((candidate) => candidate.name === choice.name);
    const flag = loaded.recipe.inputs[choice.name]!.flag;
    return {
      name: choice.name,
      origin: choice.origin,
      ...(choice.hostPath ? { hostFile: displayPath(choice.hostPath) } : {}),
      ...(choice.sourceFile ? { sourceFile: choice.sourceFile } : {}),
      containerPath: choice.containerPath,
      ...(flag && !choice.fromSource ? { argument: [flag, choice.containerPath] } : {}),
      ...(input?.sha256 ? { sha256: input.sha256 } : {}),
    };
  });
  return { resolved: read, planned };
}

/** Reads a host file for the plan; a source-tree file stays unread (empty digest). */
async function readChoice(
  hostPath: string | undefined,
  choice: ReturnType<typeof chooseInputs>[number],
): Promise<ResolvedInput> {
  let bytes = Buffer.alloc(0);
  if (hostPath !== undefined) {
    try {
      bytes = await readInputFile(`input '${choice.name}'`, hostPath);
    } catch (error) {
      if (error instanceof BuildError) throw error;
      const detail = error instanceof Error ? error.message : String(error);
      throw new BuildError("input-invalid", `input '${choice.name}': cannot read ${hostPath}: ${detail}`);
    }
  }
  const known = hostPath !== undefined;
  return {
    name: choice.name,
    hostPath: hostPath ?? "",
    containerPath: choice.containerPath,
    bytes,
    sha256: known ? createHash("sha256").update(bytes).digest("hex") : "",
    sha384: known ? createHash("sha384").update(bytes).digest("hex") : "",
    fromSource: choice.fromSource,
  };
}

function planSource(recipe: Recipe): Plan["source"] {
  const source = recipe.source;
  if ("dir" in source) return { kind: "dir", dir: displayPath(source.dir) };
  return {
    kind: "git",
    url: source.git,
    commit: source.rev,
    tag: source.tag ?? null,
    submodules: source.submodules,
    keepGitMetadata: source.keepGitMetadata ?? false,
  };
}

async function planBuilder(loaded: LoadedRecipe, sourceDir: string | undefined): Promise<PlanBuilder> {
  const { builder } = loaded.recipe;
  const spec = builder.dockerfile;
  const lockSpec = spec?.checksumLock;
  const dockerfile = spec ? await describeDockerfile(loaded, spec, sourceDir) : null;

  return {
    tag: builder.tag,
    image: builder.image ?? null,
    dockerfile,
    rootfs: builder.rootfs ?? null,
    checksumLock:
      spec && lockSpec
        ? {
            file: displayPath(recipeFile(loaded, lockSpec.file)),
            entries: parseLock(await readFile(recipeFile(loaded, lockSpec.file), "utf8")),
            modeArg: lockSpec.modeArg,
            update: [
              "docker",
              "build",
              "--file",
              displayPath(recipeFile(loaded, spec.dockerfile)),
              ...buildArgFlags({ ...dockerfile!.buildArgs, [lockSpec.modeArg]: "write" }),
              "--target",
              lockSpec.exportTarget,
              "--output",
              `type=local,dest=${displayPath(recipeFile(loaded, "."))}`,
              "CONTEXT",
            ],
          }
        : null,
  };
}

type DockerfileSpec = NonNullable<Recipe["builder"]["dockerfile"]>;

async function describeDockerfile(
  loaded: LoadedRecipe,
  spec: DockerfileSpec,
  sourceDir: string | undefined,
): Promise<NonNullable<PlanBuilder["dockerfile"]>> {
  const path = recipeFile(loaded, spec.dockerfile);
  const parsed = parseDockerfile(await readFile(path, "utf8"));
  const buildArgs = { ...parsed.argDefaults, ...spec.buildArgs };
  const sourceFiles = await Promise.all(
    Object.entries(spec.sourceFiles ?? {}).map(async ([source, context]) => ({
      source,
      context,
      content: sourceDir ? await readFile(join(sourceDir, source), "utf8").catch(() => null) : null,
    })),
  );

  return {
    file: displayPath(path),
    context: displayPath(recipeFile(loaded, spec.context)),
    baseImages: parsed.baseImages,
    buildArgs,
    sourceFiles,
    build: [
      "docker",
      "build",
      "--file",
      displayPath(path),
      "--tag",
      loaded.recipe.builder.tag,
      ...buildArgFlags(
        spec.checksumLock
          ? { ...spec.buildArgs, [spec.checksumLock.modeArg]: "enforce" }
          : spec.buildArgs,
      ),
      "CONTEXT",
    ],
  };
}

function buildArgFlags(args: Record<string, string>): string[] {
  return Object.entries(args).flatMap(([name, value]) => ["--build-arg", `${name}=${value}`]);
}

/** FROM images and ARG defaults of a Dockerfile, after joining continuation lines. */
export function parseDockerfile(text: string): {
  baseImages: string[];
  argDefaults: Record<string, string>;
} {
  const lines = text
    .replace(/\\\r?\n/g, " ")
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line !== "" && !line.startsWith("#"));
  const stages = new Set<string>();
  const baseImages: string[] = [];
  const argDefaults: Record<string, string> = {};

  for (const line of lines) {
    const [instruction, ...rest] = line.split(/\s+/);
    if (instruction?.toUpperCase() === "FROM") {
      const words = rest.filter((word) => !word.startsWith("--"));
      const image = words[0]!;
      if (image !== "scratch" && !stages.has(image)) baseImages.push(image);
      if (words[1]?.toUpperCase() === "AS" && words[2]) stages.add(words[2]);
    }
    if (instruction?.toUpperCase() === "ARG") {
      const match = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(rest.join(" "));
      if (match) argDefaults[match[1]!] = match[2]!.replace(/^"(.*)"$/, "$1");
    }
  }
  return { baseImages, argDefaults };
}

/** Entries of a checksum lock: `<sha256>  <url>` lines, `#` comments. */
export function parseLock(text: string): { url: string; sha256: string }[] {
  return text
    .split("\n")
    .map((line) => line.trim())
    .filter((line) => line !== "" && !line.startsWith("#"))
    .map((line) => {
      const [sha256, url, extra] = line.split(/\s+/);
      if (!sha256 || !/^[0-9a-f]{64}$/.test(sha256) || !url || extra !== undefined) {
        throw new BuildError(
          "recipe-invalid",
          `checksum lock line '${line}' must be '<64 hex sha256>  <url>'`,
        );
      }
      return { url, sha256 };
    });
}

/** Shortens a path inside the package or the working folder to a relative one. */
function displayPath(path: string): string {
  for (const base of [packageRoot(), process.cwd()]) {
    const inside = relative(base, path);
    if (inside === "") return ".";
    if (!inside.startsWith("..") && !isAbsolute(inside)) return inside;
  }
  return path;
}
