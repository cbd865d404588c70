import { availableParallelism } from "node:os";
import type { ParseArgsConfig } from "node:util";
import type { BuildRequest, BuildResult } from "../../pipeline/build.js";
import type { BuildError } from "../../pipeline/errors.js";
import type { SignedBuild } from "../attestation-files.js";
import type { LoadedRecipe } from "../../pipeline/recipe.js";
import { parseCommandArgs } from "../args.js";
import { EXIT, EXIT_STATUS_HELP } from "../exit.js";
import { runInterruptible } from "../interrupt.js";
import { UsageError } from "../usage-error.js";
import { parseUser } from "../../pipeline/resolve-recipe.js";
import { MAX_TIMEOUT_SECONDS } from "../../pipeline/limits.js";

const USAGE = `Usage: migtd-repro build [--recipe NAME|PATH] [--source DIR | --git URL --rev COMMIT]
                         [--policy FILE] [--root-ca FILE] [--input NAME=FILE]
                         [--option NAME=VALUE] [--preset NAME] [--out DIR]
                         [--rebuilds N] [--timeout SECONDS] [--json]`;

const COMMON_HELP = `
Builds a guest firmware in its pinned builder container with networking
off, as the recipe's user at the recipe's fixed source path, then copies
the outputs out, checks them and measures the image (MRTD, RTMRs,
SERVTD_INFO_HASH). With no arguments it builds the bundled guest twice
and checks that both builds are identical.

Written to --out only when everything succeeded: the outputs, and beside
the image NAME.bin: NAME.servtd_info_hash (hex), NAME.build.json (every
input, pin, digest, the environment, timings and measurements) and
NAME.build.log.

Options:
      --recipe NAME|PATH   bundled guest name (default: minitd) or recipe.json
                           path, or a folder holding one
      --source DIR         build this source folder instead of the recipe's
      --git URL            build this git repository instead (needs --rev)
      --rev COMMIT         exact 40-digit commit of --git, or of the recipe's
                           own git repository
      --tag TAG            tag the commit was released as; the build checks
                           that it points at the commit
      --user NAME:UID:GID:HOME
                           build as this user instead of the recipe's
      --source-path PATH   fixed source path in the container instead of the
                           recipe's (absolute)
      --input NAME=FILE    replace a recipe input file (repeatable)
      --option NAME=VALUE  set a recipe option; booleans take true or false
                           (repeatable)
      --preset NAME        apply one of the recipe's presets (option values
                           and source-tree input files)
      --out DIR            output folder (default: out)
      --rebuilds N         build N times with varied hostname, umask,
                           environment, start time and CPU set, and require
                           identical outputs (1 to 20; default: 2; 1 builds
                           once)
      --timeout SECONDS    time limit of one build, all phases together
                           (at most 2147483; default: the recipe's, 3600
                           unless it says)
      --memory BYTES       memory limit of each build container, 6m to 8 PiB;
                           k, m and g suffixes are powers of 1024 (default:
                           the recipe's, none unless it says)
      --cpus N             CPU limit of each build container, e.g. 1.5
                           (0.01 up to the host's CPU count)
      --allow-unpinned     build with a recipe whose builder image is not
                           pinned by ID or digest; the record says unpinned
      --sign KEY.pem       after a successful build, sign its attestations with
                           this PEM private key (ECDSA P-256 or Ed25519;
                           repeatable) and write NAME.intoto.jsonl,
                           SHA256SUMS and SHA384SUMS, as 'migtd-repro attest'
                           does; the key is checked before the build starts
      --prepare-builder    only make sure the builder image exists (make it
                           from the recipe if missing) and print its ID
      --json               print the result (paths, build record) as JSON
  -h, --help               show this help; with --recipe, also the recipe's
                           inputs and options

Each recipe input NAME also has an option --NAME FILE (for MigTD and
minitd: --policy FILE and --root-ca FILE), and each recipe option NAME has
--NAME VALUE, or --NAME for a boolean, unless the name is taken above.

A build that gives different outputs keeps both builds' files in
OUT.unreproducible-ID/ and prints a TD-image-aware comparison (also
available as 'migtd-repro diff A B').

Environment:
  DOCKER_HOST              Docker engine to use (default: the socket
                           /var/run/docker.sock)

${EXIT_STATUS_HELP}`;

export const help = `${USAGE}\n${COMMON_HELP}`;

const STATIC_OPTIONS = {
  recipe: { type: "string" },
  source: { type: "string" },
  git: { type: "string" },
  rev: { type: "string" },
  tag: { type: "string" },
  user: { type: "string" },
  "source-path": { type: "string" },
  input: { type: "string", multiple: true },
  option: { type: "string", multiple: true },
  preset: { type: "string" },
  out: { type: "string" },
  rebuilds: { type: "string" },
  timeout: { type: "string" },
  memory: { type: "string" },
  cpus: { type: "string" },
  "allow-unpinned": { type: "boolean" },
  "prepare-builder": { type: "boolean" },
  sign: { type: "string", multiple: true },
  json: { type: "boolean" },
} as const satisfies ParseArgsConfig["options"];

type RecipeFlag = { kind: "input" | "option"; name: string; type: "string" | "boolean" };

/** Help with the recipe's own inputs and options, when --recipe is given. */
export async function helpFor(argv: string[]): Promise<string> {
  const reference = findRecipeArgument(argv);
  const { loadRecipe } = await import("../../pipeline/recipe.js");
  const loaded = await loadRecipe(reference);
  return `${help}\n\n${recipeHelp(loaded)}`;
}

export async function run(argv: string[]): Promise<number> {
  // The pipeline's modules (Docker client, logger) take a few hundred
  // milliseconds to load; loading starts now, while the recipe is read.
  const pipeline = import("../../pipeline/build.js");
  pipeline.catch(() => {});
  const { loadRecipe } = await import("../../pipeline/recipe.js");
  const loaded = await loadRecipe(findRecipeArgument(argv));
  const flags = recipeFlags(loaded);
  const options: ParseArgsConfig["options"] = { ...STATIC_OPTIONS };
  for (const [flag, spec] of flags) options[flag] = { type: spec.type };

  const { values } = parseCommandArgs("build", {
    args: joinNegativeValues(argv),
    options,
    strict: true,
    allowPositionals: false,
  });
  const { MAX_REBUILDS } = await pipeline;
  const request = toRequest(values as Record<string, unknown>, flags, loaded.path, MAX_REBUILDS);

  if (values["prepare-builder"]) return prepareBuilder(loaded, request);
  return build(request, values.json === true, (values.sign as string[] | undefined) ?? []);
}

/** Finds --recipe's value before full parsing, because the recipe defines further options. */
function findRecipeArgument(argv: string[]): string | undefined {
  for (let index = 0; index < argv.length; index++) {
    const argument = argv[index]!;
    if (argument === "--recipe") return argv[index + 1];
    if (argument.startsWith("--recipe=")) return argument.slice("--recipe=".length);
  }
  return undefined;
}

/** Lists the per-recipe flags: one per input and option whose name is free. */
function recipeFlags(loaded: LoadedRecipe): Map<string, RecipeFlag> {
  const flags = new Map<string, RecipeFlag>();
  const taken = new Set([...Object.keys(STATIC_OPTIONS), "help"]);
  for (const name of Object.keys(loaded.recipe.inputs)) {
    if (!taken.has(name)) flags.set(name, { kind: "input", name, type: "string" });
  }
  for (const [name, spec] of Object.entries(loaded.recipe.options)) {
    if (!taken.has(name) && !flags.has(name)) flags.set(name, { kind: "option", name, type: spec.type });
  }
  return flags;
}

function recipeHelp(loaded: LoadedRecipe): string {
  const { recipe } = loaded;
  const lines = [`Recipe '${recipe.name}' ${recipe.version} (${loaded.path}):`, `  ${recipe.description}`, "", "Inputs:"];
  for (const [name, spec] of Object.entries(recipe.inputs)) {
    const fallback = inputFallback(spec);
    lines.push(`  --input ${name}=FILE (or --${name} FILE)`, `      ${spec.description} (default: ${fallback})`);
  }
  if (Object.keys(recipe.inputs).length === 0) lines.push("  none");
  lines.push("", "Options:");
  for (const [name, spec] of Object.entries(recipe.options)) {
    const usage = spec.type === "boolean" ? `--${name}` : `--${name} VALUE`;
    const choices = spec.choices ? `; one of ${spec.choices.map((choice) => choice || '""').join(", ")}` : "";
    const fallback = spec.default === "" ? '""' : String(spec.default);
    lines.push(`  --option ${name}=VALUE (or ${usage})`, `      ${spec.description} (default: ${fallback}${choices})`);
  }
  if (Object.keys(recipe.options).length === 0) lines.push("  none");
  const presets = Object.entries(recipe.presets ?? {});
  if (presets.length) {
    lines.push("", "Presets:");
    for (const [name, preset] of presets) lines.push(`  --preset ${name}`, `      ${preset.description}`);
  }
  return lines.join("\n");
}

type InputSpec = LoadedRecipe["recipe"]["inputs"][string];

function inputFallback(spec: InputSpec): string {
  if (spec.default !== undefined) return spec.default;
  if (spec.sourceDefault !== undefined) return `the source tree's ${spec.sourceDefault}`;
  if (spec.requiredWhen !== undefined) return `none; required with --${spec.requiredWhen}`;
  if (spec.onlyWhen !== undefined) return `none; used only with --${spec.onlyWhen}`;
  return "none; required";
}

function toRequest(
  values: Record<string, unknown>,
  flags: Map<string, RecipeFlag>,
  recipePath: string,
  maxRebuilds: number,
): BuildRequest {
  const inputs = pairs("--input", values.input as string[] | undefined);
  const options: Record<string, string | boolean> = pairs("--option", values.option as string[] | undefined);
  for (const [flag, spec] of flags) {
    const value = values[flag];
    if (value === undefined) continue;
    if (spec.kind === "input") inputs[spec.name] = value as string;
    else options[spec.name] = value as string | boolean;
  }

  return {
    recipe: recipePath,
    source: sourceOf(values),
    tag: values.tag as string | undefined,
    rev: values.git === undefined ? (values.rev as string | undefined) : undefined,
    user: values.user === undefined ? undefined : parseUser(values.user as string),
    sourcePath: values["source-path"] as string | undefined,
    inputs,
    options,
    preset: values.preset as string | undefined,
    out: (values.out as string | undefined) ?? "out",
    rebuilds: rebuildCount(values.rebuilds as string | undefined, maxRebuilds),
    timeoutSeconds: timeoutSeconds(values.timeout as string | undefined),
    memoryBytes: byteSize(values.memory as string | undefined),
    cpus: cpuCount(values.cpus as string | undefined),
    allowUnpinned: values["allow-unpinned"] === true,
    terminal: process.stderr.isTTY ? process.stderr : undefined,
  };
}

function sourceOf(values: Record<string, unknown>): BuildRequest["source"] {
  const dir = values.source as string | undefined;
  const git = values.git as string | undefined;
  const rev = values.rev as string | undefined;
  if (dir !== undefined && git !== undefined) {
    throw new UsageError("build: give either --source or --git, not both");
  }
  if (git !== undefined && rev === undefined) {
    throw new UsageError("build: --git needs --rev COMMIT (a full 40-digit commit ID)");
  }
  if (dir !== undefined) return { kind: "dir", dir };
  if (git !== undefined) return { kind: "git", url: git, rev: rev!, submodules: true };
  return undefined;
}

function pairs(flag: string, entries: string[] | undefined): Record<string, string> {
  const result: Record<string, string> = {};
  for (const entry of entries ?? []) {
    const split = entry.indexOf("=");
    if (split <= 0) throw new UsageError(`build: ${flag} takes NAME=VALUE, not '${entry}'`);
    result[entry.slice(0, split)] = entry.slice(split + 1);
  }
  return result;
}

function rebuildCount(text: string | undefined, max: number): number {
  if (text === undefined) return 2;
  if (!/^[1-9][0-9]*$/.test(text) || Number(text) > max) {
    throw new UsageError(`build: --rebuilds must be a whole number from 1 to ${max}, not '${text}'`);
  }
  return Number(text);
}

/** Options that take a number; a negative value would otherwise read as an option. */
const NUMBER_OPTIONS = new Set(["--rebuilds", "--timeout", "--memory", "--cpus"]);

/**
 * Joins `--rebuilds -1` into `--rebuilds=-1`, so that the value reaches
 * the range checks instead of failing in parseArgs as an ambiguous option.
 */
function joinNegativeValues(argv: string[]): string[] {
  const joined: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const value = argv[i + 1];
    if (NUMBER_OPTIONS.has(argv[i]!) && value !== undefined && /^-[0-9.]/.test(value)) {
      joined.push(`${argv[i]}=${value}`);
      i++;
    } else {
      joined.push(argv[i]!);
    }
  }
  return joined;
}

function positiveInteger(flag: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  if (!/^[1-9][0-9]*$/.test(text)) throw new UsageError(`build: ${flag} takes a positive whole number, not '${text}'`);
  return Number(text);
}

function timeoutSeconds(text: string | undefined): number | undefined {
  const seconds = positiveInteger("--timeout", text);
  if (seconds !== undefined && seconds > MAX_TIMEOUT_SECONDS) {
    throw new UsageError(
      `build: --timeout must be at most ${MAX_TIMEOUT_SECONDS} seconds (about 24 days), Node's longest timer, not '${text}'`,
    );
  }
  return seconds;
}

/** Smallest CPU limit the Docker engine accepts for a container; the largest is the host's CPU count. */
const MIN_CPUS = 0.01;

function cpuCount(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const value = Number(text);
  const max = availableParallelism();
  if (!/^[0-9.]+$/.test(text) || !(value >= MIN_CPUS && value <= max)) {
    throw new UsageError(
      `build: --cpus takes a number from ${MIN_CPUS} (the Docker engine's minimum) to ${max} (the CPUs of this host), not '${text}'`,
    );
  }
  return value;
}

const SIZE_UNITS: Record<string, number> = { "": 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 };

/** Smallest memory limit the Docker engine accepts for a container: 6 MiB. */
const MIN_MEMORY_BYTES = 6 * 1024 ** 2;

/**
 * Maximum memory limit: 8 PiB, the largest whole number a JavaScript number
 * represents exactly. It is below the engine's int64 limit of 2^63-1 bytes,
 * so the engine receives the requested value unchanged.
 */
const MAX_MEMORY_BYTES = Number.MAX_SAFE_INTEGER;

function byteSize(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const match = /^([1-9][0-9]*)([kmg]?)$/i.exec(text);
  if (!match) throw new UsageError(`build: --memory takes bytes with an optional k, m or g suffix, not '${text}'`);
  const bytes = Number(match[1]) * SIZE_UNITS[match[2]!.toLowerCase()]!;
  if (bytes > MAX_MEMORY_BYTES) {
    throw new UsageError(`build: --memory must be at most ${MAX_MEMORY_BYTES} bytes (8 PiB), not '${text}'`);
  }
  if (bytes < MIN_MEMORY_BYTES) {
    throw new UsageError(
      `build: --memory must be at least 6m (${MIN_MEMORY_BYTES} bytes), the Docker engine's minimum, not '${text}'`,
    );
  }
  return bytes;
}

async function prepareBuilder(loaded: LoadedRecipe, request: BuildRequest): Promise<number> {
  const { prepareBuilderImage } = await import("../../pipeline/prepare.js");
  const builder = await prepareBuilderImage(loaded.path, request.allowUnpinned ?? false);
  process.stdout.write(`${builder.id}\n`);
  return EXIT.ok;
}

/**
 * Runs the build with SIGINT and SIGTERM turned into an abort, so the
 * pipeline removes its containers before the process exits with 130.
 */
async function build(request: BuildRequest, json: boolean, keyPaths: string[]): Promise<number> {
  const signing = keyPaths.length ? await import("../attestation-files.js") : undefined;
  const keys = signing ? await signing.loadSigningKeys(keyPaths) : [];
  const { runBuild, newBuildId } = await import("../../pipeline/build.js");
  const buildId = request.buildId ?? newBuildId();

  let result: BuildResult;
  try {
    result = await runInterruptible(buildId, (signal) => runBuild({ ...request, buildId, signal }));
  } catch (error) {
    if ((error as BuildError).code === "interrupted") {
      process.stderr.write("migtd-repro: build interrupted; its containers were removed and --out is unchanged\n");
      return EXIT.interrupted;
    }
    printLogTail(error as BuildError);
    throw error;
  }

  let signed: SignedBuild | undefined;
  if (signing && result.reproducible) {
    const imagePath = result.written.find((path) => path.endsWith(`/${imageOf(result).name}`))!;
    signed = await signing.signBuild({ imagePath, buildRecord: result.record, keys });
  }

  if (json) {
    process.stdout.write(`${JSON.stringify({ ...(jsonResult(result) as object), signed }, null, 2)}\n`);
  } else {
    printSummary(result);
    if (signed) {
      process.stdout.write(`signed      ${[signed.attestationPath, ...signed.checksumPaths].join("\n            ")}\n`);
    } else if (result.removedStale.length) {
      process.stdout.write(
        `removed     ${result.removedStale.join("\n            ")}\n` +
          "            (an earlier build's attestation and checksums, stale for the new image; use --sign to make new ones)\n",
      );
    }
  }
  return result.reproducible ? EXIT.ok : EXIT.checkFailed;
}

function imageOf(result: BuildResult) {
  return result.record.outputs.find((output) => output.image)!;
}

function printLogTail(error: BuildError): void {
  if (!Array.isArray(error?.logTail) || error.logTail.length === 0) return;
  process.stderr.write(`--- last ${error.logTail.length} lines of build output ---\n`);
  process.stderr.write(`${error.logTail.join("\n")}\n---\n`);
}

function jsonResult(result: BuildResult): unknown {
  return {
    buildId: result.buildId,
    reproducible: result.reproducible,
    written: result.written,
    removedStale: result.removedStale,
    logPath: result.logPath,
    record: result.record,
    ...(result.difference
      ? {
          difference: {
            keptDir: result.difference.keptDir,
            imageA: result.difference.imageA,
            imageB: result.difference.imageB,
            diff: JSON.parse(JSON.stringify(result.difference.diff, (_key, value: unknown) =>
              typeof value === "bigint" ? `0x${value.toString(16)}` : value,
            )),
          },
        }
      : {}),
  };
}

function printSummary(result: BuildResult): void {
  const { record } = result;
  const image = imageOf(result);
  const lines = [
    `recipe      ${record.recipe.name} ${record.recipe.version}${record.unpinned ? " (UNPINNED)" : ""}`,
    `builder     ${record.builder.id}`,
    `source      ${record.source.uri}${record.source.commit ? ` @ ${record.source.commit}` : ""} (tar sha256 ${record.source.digest})`,
    `image       ${image.name} (${image.size} bytes, sha384 ${image.sha384})`,
    `MRTD        ${record.measurement.mrtd}`,
    `SERVTD_INFO_HASH ${record.measurement.servtdInfoHash}`,
  ];
  const { reproducibility } = record;
  if (reproducibility.builds > 1) {
    lines.push(
      result.reproducible
        ? `reproducible: ${reproducibility.builds} builds identical (varied: ${reproducibility.variations.join(", ")})`
        : `NOT reproducible: the ${reproducibility.builds} builds differ (varied: ${reproducibility.variations.join(", ")})`,
    );
  }
  if (result.difference) lines.push(...describeDifference(result.difference));
  else lines.push(`written     ${result.written.join("\n            ")}`);
  process.stdout.write(`${lines.join("\n")}\n`);
}

function describeDifference(difference: NonNullable<BuildResult["difference"]>): string[] {
  const { diff } = difference;
  const lines = [
    `  ${diff.differingBytes} bytes differ in ${diff.rangeCount} ranges (sizes ${diff.sizeA} and ${diff.sizeB})`,
    `  MRTD             ${diff.mrtd.differs ? `${diff.mrtd.a} vs ${diff.mrtd.b}` : "same"}`,
    `  SERVTD_INFO_HASH ${diff.servtdInfoHash.differs ? `${diff.servtdInfoHash.a} vs ${diff.servtdInfoHash.b}` : "same"}`,
  ];
  for (const range of diff.ranges.slice(0, 10)) {
    const where = range.locations.map((location) => `${location.label} +0x${location.offset.toString(16)}`).join(", ");
    lines.push(`  0x${range.start.toString(16)}..0x${range.end.toString(16)}  ${where || "outside every known region"}`);
  }
  if (diff.rangeCount > 10) lines.push(`  ... ${diff.rangeCount - 10} more ranges`);
  lines.push(
    `  both builds are kept in ${difference.keptDir}`,
    `  compare them with: migtd-repro diff ${difference.imageA} ${difference.imageB}`,
  );
  return lines;
}
