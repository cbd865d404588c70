import { resolve } from "node:path";
import { BuildError } from "./errors.js";
import type { LoadedRecipe } from "./recipe.js";
import type { Recipe } from "./recipe-schema.js";

/**
 * Placeholders a recipe may use in `env`, phase commands and environments,
 * `persist` and builder build arguments. They are replaced after the user
 * and source path are final, so overriding the user moves Cargo's home and
 * the builder's user with it.
 */
const PLACEHOLDER = /\$\{(USER|UID|GID|HOME|SOURCE_PATH)\}/g;

/** Environment variables that carry the source's identity into every phase. */
export const SOURCE_REV_ENV = "MIGTD_REPRO_SOURCE_REV";
export const SOURCE_TAG_ENV = "MIGTD_REPRO_SOURCE_TAG";

/** Changes to a recipe that a build or plan request may make. */
export interface RecipeOverrides {
  /** Git commit (40 hex digits) to build instead of the recipe's. */
  rev?: string;
  /** Tag the commit is known by; checked against the commit after checkout. */
  tag?: string;
  /** Host folder used as the source instead of the recipe's git source. */
  sourceDir?: string;
  user?: Recipe["user"];
  /** Absolute source path in the container. */
  sourcePath?: string;
}

/**
 * Applies overrides of source, user and source path to a loaded recipe,
 * replaces its placeholders, and sets MIGTD_REPRO_SOURCE_REV and
 * MIGTD_REPRO_SOURCE_TAG in its environment (empty for a folder source).
 * Returns a new LoadedRecipe, leaving the given one unchanged.
 */
export function applyOverrides(
  loaded: LoadedRecipe,
  overrides: RecipeOverrides = {},
): LoadedRecipe {
  const recipe: Recipe = structuredClone(loaded.recipe);
  if (overrides.user) recipe.user = { ...overrides.user };
  if (overrides.sourcePath) recipe.sourcePath = checkSourcePath(overrides.sourcePath);
  recipe.source = overrideSource(recipe, overrides);

  const values: Record<string, string> = {
    USER: recipe.user.name,
    UID: String(recipe.user.uid),
    GID: String(recipe.user.gid),
    HOME: recipe.user.home,
    SOURCE_PATH: recipe.sourcePath,
  };
  const expand = (text: string) => text.replace(PLACEHOLDER, (_, name: string) => values[name]!);
  const expandAll = (record: Record<string, string>) =>
    Object.fromEntries(Object.entries(record).map(([key, value]) => [key, expand(value)]));

  const gitSource = "git" in recipe.source ? recipe.source : undefined;
  recipe.env = {
    ...expandAll(recipe.env),
    [SOURCE_REV_ENV]: gitSource?.rev ?? "",
    [SOURCE_TAG_ENV]: gitSource?.tag ?? "",
  };
  recipe.phases = recipe.phases.map((phase) => ({
    ...phase,
    command: phase.command.map(expand),
    ...(phase.env ? { env: expandAll(phase.env) } : {}),
  }));
  if (recipe.persist) recipe.persist = recipe.persist.map(expand);
  if (recipe.builder.dockerfile) {
    recipe.builder.dockerfile.buildArgs = expandAll(recipe.builder.dockerfile.buildArgs);
  }
  return { ...loaded, recipe };
}

function overrideSource(recipe: Recipe, overrides: RecipeOverrides): Recipe["source"] {
  if (overrides.sourceDir !== undefined) {
    if (overrides.rev !== undefined || overrides.tag !== undefined) {
      throw new BuildError(
        "source-invalid",
        "a source folder has no commit: give either --source or --rev/--tag, not both",
      );
    }
    return { dir: resolve(overrides.sourceDir) };
  }

  const source = recipe.source;
  if (overrides.rev === undefined && overrides.tag === undefined) return source;
  if (!("git" in source)) {
    throw new BuildError(
      "source-invalid",
      `recipe '${recipe.name}' builds a folder source, so --rev and --tag do not apply`,
    );
  }
  if (overrides.rev === undefined) {
    throw new BuildError(
      "source-invalid",
      `tag '${overrides.tag}' needs its commit: give --rev with the full 40-digit commit ` +
        "(a tag can be moved, so the build pins the commit and checks the tag against it)",
    );
  }
  const rev = overrides.rev.toLowerCase();
  if (!/^[0-9a-f]{40}$/.test(rev)) {
    throw new BuildError("source-invalid", `--rev '${overrides.rev}' must be a full 40-digit commit ID`);
  }

  // A commit without a tag drops the recipe's tag: it names another commit.
  const { tag: _recipeTag, ...rest } = source;
  return overrides.tag === undefined ? { ...rest, rev } : { ...rest, rev, tag: overrides.tag };
}

function checkSourcePath(path: string): string {
  if (!path.startsWith("/") || path.split("/").includes("..") || path === "/") {
    throw new BuildError(
      "input-invalid",
      `source path '${path}' must be an absolute folder path without '..', e.g. /root/MigTD`,
    );
  }
  return path.replace(/\/+$/, "");
}

/**
 * Parses a user given as NAME:UID:GID:HOME, e.g. `builder:1000:1000:/home/builder`.
 */
export function parseUser(text: string): Recipe["user"] {
  const match = /^([a-z_][a-z0-9_-]*):(\d+):(\d+):(\/[^:]*)$/.exec(text);
  if (!match) {
    throw new BuildError(
      "input-invalid",
      `user '${text}' must be NAME:UID:GID:HOME, e.g. root:0:0:/root or builder:1000:1000:/home/builder`,
    );
  }
  return {
    name: match[1]!,
    uid: Number(match[2]),
    gid: Number(match[3]),
    home: match[4]!.replace(/\/+$/, "") || "/",
  };
}

/** Source of one input's file in a build, decided without reading it. */
export interface InputChoice {
  name: string;
  origin: "user" | "preset" | "recipe-default" | "source-default";
  /** Host file copied into the container (user file or recipe default). */
  hostPath?: string;
  /** File in the source tree, relative to the source path. */
  sourceFile?: string;
  /** Path the build command reads the file from, inside the container. */
  containerPath: string;
  /**
   * True when the source tree's own default is used. The build reads that
   * file by itself, so the input's flag is left out.
   */
  fromSource: boolean;
}

/**
 * Chooses each input's file the way parameters.ts `resolveInputs` does
 * (user file, then a preset's source-tree file, then the recipe's default,
 * then the source tree's default) but reads nothing, so that a plan can be
 * shown without a checkout. Inputs that `onlyWhen` or `requiredWhen` leave
 * out are not listed.
 */
export function chooseInputs(
  loaded: LoadedRecipe,
  files: Record<string, string>,
  sourceFiles: Record<string, string>,
  options: Record<string, string | boolean>,
): InputChoice[] {
  const { recipe } = loaded;
  for (const name of [...Object.keys(files), ...Object.keys(sourceFiles)]) {
    if (!(name in recipe.inputs)) {
      throw new BuildError(
        "input-invalid",
        `recipe '${recipe.name}' has no input '${name}' (inputs: ${Object.keys(recipe.inputs).join(", ") || "none"})`,
      );
    }
  }

  const choices: InputChoice[] = [];
  for (const [name, spec] of Object.entries(recipe.inputs)) {
    const given = files[name];
    checkInputCondition(name, spec, given !== undefined, options);
    if (spec.onlyWhen !== undefined && options[spec.onlyWhen] !== true) continue;

    const choice = chooseInput(loaded, name, given, sourceFiles[name]);
    if (choice) choices.push(choice);
  }
  return choices;
}

function chooseInput(
  loaded: LoadedRecipe,
  name: string,
  given: string | undefined,
  presetFile: string | undefined,
): InputChoice | undefined {
  const spec = loaded.recipe.inputs[name]!;
  const base = { name, containerPath: spec.path, fromSource: false };
  if (given !== undefined) return { ...base, origin: "user", hostPath: resolve(given) };
  if (presetFile !== undefined) return { ...base, origin: "preset", sourceFile: presetFile };
  if (spec.default !== undefined) {
    return { ...base, origin: "recipe-default", hostPath: resolve(loaded.dir, spec.default) };
  }
  if (spec.sourceDefault !== undefined) {
    return {
      name,
      origin: "source-default",
      sourceFile: spec.sourceDefault,
      containerPath: `${loaded.recipe.sourcePath}/${spec.sourceDefault}`,
      fromSource: true,
    };
  }
  if (spec.onlyWhen !== undefined || spec.requiredWhen !== undefined) return undefined;
  throw new BuildError(
    "input-invalid",
    `recipe '${loaded.recipe.name}' needs input '${name}' (${spec.description}); give it with --${name} FILE`,
  );
}

function checkInputCondition(
  name: string,
  spec: Recipe["inputs"][string],
  given: boolean,
  options: Record<string, string | boolean>,
): void {
  if (
    spec.requiredWhen !== undefined &&
    options[spec.requiredWhen] === true &&
    !given &&
    spec.default === undefined
  ) {
    throw new BuildError(
      "input-invalid",
      `input '${name}' is required with option '${spec.requiredWhen}'; give it with --${name} FILE`,
    );
  }
  if (spec.onlyWhen !== undefined && options[spec.onlyWhen] !== true && given) {
    throw new BuildError(
      "input-invalid",
      `input '${name}' is only used with option '${spec.onlyWhen}'; set --${spec.onlyWhen} or leave the input out`,
    );
  }
}
