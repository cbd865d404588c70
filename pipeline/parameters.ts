import { createHash } from "node:crypto";
import { basename, posix, resolve } from "node:path";
import { BuildError } from "./errors.js";
import { readInputFile } from "./read-input.js";
import { recipeFile, type LoadedRecipe } from "./recipe.js";

/** An input file resolved for one build. */
export interface ResolvedInput {
  name: string;
  /** Host path the bytes were read from. */
  hostPath: string;
  containerPath: string;
  bytes: Buffer;
  sha256: string;
  sha384: string;
  /**
   * True when the file is the source tree's own default: it is already in
   * the container, so it is not copied in and its flag is left out.
   */
  fromSource: boolean;
}

/** Sources of the input files, before any is read. */
export interface InputSelection {
  /** Input name to a host file the user gave. */
  files: Record<string, string>;
  /** Input name to a file in the source tree, e.g. from a preset. */
  sourceFiles: Record<string, string>;
  /** Host folder of the source tree. */
  sourceRoot: string;
  /** Resolved option values, for `requiredWhen` and `onlyWhen`. */
  options: Record<string, string | boolean>;
}

/**
 * Resolves every recipe input: the file the user gave, else a source-tree
 * file a preset names, else the recipe's default, else the source tree's
 * own default. A JSON input must parse.
 */
export async function resolveInputs(
  loaded: LoadedRecipe,
  selection: InputSelection,
): Promise<ResolvedInput[]> {
  const specs = loaded.recipe.inputs;
  for (const name of [...Object.keys(selection.files), ...Object.keys(selection.sourceFiles)]) {
    if (!(name in specs)) {
      throw new BuildError(
        "input-invalid",
        `recipe '${loaded.recipe.name}' has no input '${name}' (inputs: ${listOrNone(Object.keys(specs))})`,
      );
    }
  }

  const resolved: ResolvedInput[] = [];
  for (const [name, spec] of Object.entries(specs)) {
    const given = selection.files[name];
    checkCondition(name, spec, given !== undefined, selection.options);
    if (spec.onlyWhen !== undefined && selection.options[spec.onlyWhen] !== true) continue;

    let hostPath: string;
    let fromSource = false;
    if (given !== undefined) {
      hostPath = resolve(given);
    } else if (selection.sourceFiles[name] !== undefined) {
      hostPath = inSourceTree(selection.sourceRoot, selection.sourceFiles[name]);
    } else if (spec.default !== undefined) {
      hostPath = recipeFile(loaded, spec.default);
    } else if (spec.sourceDefault !== undefined) {
      hostPath = inSourceTree(selection.sourceRoot, spec.sourceDefault);
      fromSource = true;
    } else if (spec.onlyWhen !== undefined || spec.requiredWhen !== undefined) {
      continue;
    } else {
      throw new BuildError(
        "input-invalid",
        `recipe '${loaded.recipe.name}' needs input '${name}' (${spec.description}); give it with --input ${name}=FILE`,
      );
    }

    const bytes = await readInput(name, hostPath);
    if (spec.format === "json") checkJson(name, hostPath, bytes);
    resolved.push({
      name,
      hostPath,
      containerPath: fromSource
        ? posix.join(loaded.recipe.sourcePath, spec.sourceDefault!)
        : spec.path,
      bytes,
      sha256: createHash("sha256").update(bytes).digest("hex"),
      sha384: createHash("sha384").update(bytes).digest("hex"),
      fromSource,
    });
  }
  return resolved;
}

type InputSpec = LoadedRecipe["recipe"]["inputs"][string];

/** Applies `requiredWhen` and `onlyWhen`, which name boolean options. */
function checkCondition(
  name: string,
  spec: InputSpec,
  given: boolean,
  options: Record<string, string | boolean>,
): void {
  if (spec.requiredWhen !== undefined && options[spec.requiredWhen] === true && !given && spec.default === undefined) {
    throw new BuildError(
      "input-invalid",
      `input '${name}' is required with option '${spec.requiredWhen}'; give it with --input ${name}=FILE`,
    );
  }
  if (spec.onlyWhen !== undefined && options[spec.onlyWhen] !== true && given) {
    throw new BuildError(
      "input-invalid",
      `input '${name}' is only used with option '${spec.onlyWhen}'; set that option or leave the input out`,
    );
  }
}

/** Formats a choice for an error message, showing the empty string as ''. */
function showChoice(choice: string): string {
  return choice === "" ? "''" : choice;
}

function inSourceTree(root: string, relative: string): string {
  const path = resolve(root, relative);
  if (!path.startsWith(`${root}/`)) {
    throw new BuildError("input-invalid", `source-tree input path '${relative}' leaves the source tree`);
  }
  return path;
}

async function readInput(name: string, path: string): Promise<Buffer> {
  try {
    return await readInputFile(`input '${name}'`, path);
  } catch (error) {
    if (error instanceof BuildError) throw error;
    const detail = error instanceof Error ? error.message : String(error);
    throw new BuildError("input-invalid", `input '${name}': cannot read ${path}: ${detail}`);
  }
}

function checkJson(name: string, path: string, bytes: Buffer): void {
  try {
    JSON.parse(bytes.toString("utf8"));
  } catch (error) {
    const detail = error instanceof Error ? error.message : String(error);
    throw new BuildError(
      "input-invalid",
      `input '${name}' (${basename(path)}) must be JSON but does not parse: ${detail}`,
    );
  }
}

/** Option values of one build, and the environment variables they set. */
export interface ResolvedOptions {
  values: Record<string, string | boolean>;
  env: Record<string, string>;
}

/**
 * Resolves every recipe option from the user's values (strings from the
 * command line) and the recipe's defaults, checking types and choices.
 */
export function resolveOptions(
  loaded: LoadedRecipe,
  given: Record<string, string | boolean>,
): ResolvedOptions {
  const specs = loaded.recipe.options;
  for (const name of Object.keys(given)) {
    if (!(name in specs)) {
      throw new BuildError(
        "input-invalid",
        `recipe '${loaded.recipe.name}' has no option '${name}' (options: ${listOrNone(Object.keys(specs))})`,
      );
    }
  }

  const values: Record<string, string | boolean> = {};
  const env: Record<string, string> = {};
  for (const [name, spec] of Object.entries(specs)) {
    const raw = given[name] ?? spec.default;
    const value = spec.type === "boolean" ? toBoolean(name, raw) : String(raw);
    if (typeof value === "string" && spec.choices && !spec.choices.includes(value)) {
      throw new BuildError(
        "input-invalid",
        `option '${name}' must be one of ${spec.choices.map(showChoice).join(", ")}, not '${value}'`,
      );
    }
    values[name] = value;
    env[spec.env] = optionEnvValue(value);
  }
  return { values, env };
}

function optionEnvValue(value: string | boolean): string {
  if (value === true) return "1";
  if (value === false) return "0";
  return value;
}

function toBoolean(name: string, raw: string | boolean): boolean {
  if (typeof raw === "boolean") return raw;
  if (["true", "1", "yes", "on"].includes(raw)) return true;
  if (["false", "0", "no", "off"].includes(raw)) return false;
  throw new BuildError(
    "input-invalid",
    `option '${name}' is boolean: give true or false, not '${raw}'`,
  );
}

/** Looks up a recipe preset by name; undefined when no preset is requested. */
export function presetOf(loaded: LoadedRecipe, name: string | undefined) {
  if (name === undefined) return undefined;
  const preset = loaded.recipe.presets?.[name];
  if (preset === undefined) {
    const known = Object.keys(loaded.recipe.presets ?? {});
    throw new BuildError(
      "input-invalid",
      `recipe '${loaded.recipe.name}' has no preset '${name}' (presets: ${known.length ? known.join(", ") : "none"})`,
    );
  }
  return preset;
}

function listOrNone(names: string[]): string {
  return names.length ? names.join(", ") : "none";
}
