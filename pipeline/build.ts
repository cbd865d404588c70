import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, readFile, rename, rm, stat, writeFile, copyFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { basename, dirname, join, resolve } from "node:path";
import type Docker from "dockerode";
import pino, { type Logger } from "pino";
import type { ImageDiff } from "../attest/index.js";
import type { BuildRecord } from "../attest/build-record.js";
import { imageStem, sideFileNames } from "../attest/output-names.js";
import { resolveBuilderImage, type BuilderImage } from "./builder.js";
import {
  buildOnce,
  checkAborted,
  inputFiles,
  removeContainer,
  type BuildOnceResult,
  type BuildPlan,
} from "./build-once.js";
import { phaseCommands, resolveOutputs } from "./commands.js";
import { BUILD_LABEL } from "./container.js";
import { connectEngine, engineFailure } from "./engine.js";
import { BuildError } from "./errors.js";
import { makeFolders } from "./make-folders.js";
import { loadMeasurement, measureFlags, measureImage } from "./measure.js";
import { presetOf, resolveInputs, resolveOptions } from "./parameters.js";
import { BuildProgress } from "./progress.js";
import { checkPinned, loadRecipe, type LoadedRecipe } from "./recipe.js";
import type { Recipe } from "./recipe-schema.js";
import {
  applyOverrides,
  SOURCE_REV_ENV,
  SOURCE_TAG_ENV,
  type RecipeOverrides,
} from "./resolve-recipe.js";
import { makeRecord, type PreparedBuild } from "./record.js";
import { prepareSource, recipeSource, type PreparedSource, type SourceRequest } from "./source.js";
import { packSource, type TarEntry } from "./source-tar.js";
import { variationFor, variedConditions } from "./variations.js";

/** A build request: recipe, source, parameters and limits, as the CLI passes them. */
export interface BuildRequest {
  /** Bundled guest name or recipe path; default: the bundled guest. */
  recipe?: string;
  /** Overrides the recipe's source. */
  source?: SourceRequest;
  /** Tag the git commit is known by; checked against the commit. */
  tag?: string;
  /** Commit of the recipe's own git source to build instead of its pinned one. */
  rev?: string;
  /** Overrides the recipe's build user. */
  user?: Recipe["user"];
  /** Overrides the recipe's fixed source path in the container. */
  sourcePath?: string;
  /** Input name to host file. */
  inputs?: Record<string, string>;
  /** Option name to value, as given on the command line. */
  options?: Record<string, string | boolean>;
  preset?: string;
  out: string;
  /** Number of builds to run and compare; 1 builds once. */
  rebuilds?: number;
  timeoutSeconds?: number;
  memoryBytes?: number;
  cpus?: number;
  allowUnpinned?: boolean;
  signal?: AbortSignal;
  /** Terminal for the live status line; none writes no status. */
  terminal?: NodeJS.WriteStream;
  /** Folder for per-build log files; default: a folder under the OS temp dir. */
  logDir?: string;
  /** Build ID, the value of the containers' build label; default: random. */
  buildId?: string;
}

export interface BuildResult {
  buildId: string;
  /** True when every build gave identical outputs. */
  reproducible: boolean;
  record: BuildRecord;
  /** Files written to the output folder (absolute paths); none when not reproducible. */
  written: string[];
  /** Attestation and checksum files of an earlier build that this build removed (absolute paths). */
  removedStale: string[];
  logPath: string;
  /** When not reproducible: the image comparison and where both builds' outputs are kept. */
  difference?: { diff: ImageDiff; keptDir: string; imageA: string; imageB: string };
}

/** Largest number of builds to compare: each one runs the whole recipe again. */
export const MAX_REBUILDS = 20;

/** Returns a new random build ID, the value of the containers' build label. */
export function newBuildId(): string {
  return randomBytes(6).toString("hex");
}

/**
 * Force-removes every container with the build's label, for a second
 * interrupt that exits before the pipeline's own cleanup. It lists at
 * least twice, so that a container whose creation was in flight is also
 * removed. It also lists until no container is left, because a container
 * that the pipeline's cleanup is removing stays listed until the engine
 * has finished. It gives up after `timeoutMs` and returns the number of
 * containers it removed.
 */
export async function removeBuildContainers(buildId: string, timeoutMs: number): Promise<number> {
  const docker = await connectEngine({ timeoutMs }).catch(() => undefined);
  if (docker === undefined) return 0;
  let removed = 0;
  const sweep = async () => {
    for (let pass = 0; ; pass++) {
      const found = await docker.listContainers({ all: true, filters: { label: [`${BUILD_LABEL}=${buildId}`] } });
      if (found.length === 0 && pass >= 1) return;
      if (pass >= 2) await new Promise((resolve) => setTimeout(resolve, 50));
      await Promise.all(
        found.map(async (info) => {
          const deleted = await docker
            .getContainer(info.Id)
            .remove({ force: true, v: true })
            .then(() => true, () => false);
          if (deleted) removed++;
        }),
      );
    }
  };
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs)));
  await Promise.race([sweep().catch(() => {}), timeout]);
  clearTimeout(timer);
  return removed;
}

/**
 * Builds a guest firmware in its builder image, `rebuilds` times with
 * varied conditions, checks that the outputs are identical, measures the
 * image and moves the outputs, `NAME.servtd_info_hash`, `NAME.build.json`
 * and `NAME.build.log` into the output folder. On any failure nothing is
 * written to the output folder, and every container is removed.
 */
export async function runBuild(request: BuildRequest): Promise<BuildResult> {
  const buildId = request.buildId ?? newBuildId();
  const logDir = request.logDir ?? join(tmpdir(), "migtd-repro", "logs");
  await makeFolders(logDir);
  const logPath = join(logDir, `${buildId}.log`);
  const progress = new BuildProgress(request.terminal);
  const log = pino(
    {
      base: { buildId },
      // Every log entry, such as the builder image's progress, also
      // becomes the status line's last line.
      hooks: {
        logMethod(args, method) {
          progress.setLine(statusText(args));
          method.apply(this, args);
        },
      },
    },
    pino.destination({ dest: logPath, sync: true }),
  );
  const signal = request.signal ?? new AbortController().signal;
  const containers = new Set<Docker.Container>();
  // A container that fails to be removed stays in `containers`, and the
  // cleanup below tries again and logs the error.
  const removals: Promise<void>[] = [];
  const out = resolve(request.out);
  const staging = join(dirname(out), `.${basename(out)}.${buildId}.partial`);
  const timings: Record<string, number> = {};
  const started = new Date();
  let source: PreparedSource | undefined;
  let docker: Docker | undefined;

  log.info({ request: { ...request, terminal: undefined, signal: undefined } }, "build started");
  // Before the try block, whose cleanup cannot remove a staging folder below a file.
  await checkOutFolder(out);
  const rebuilds = request.rebuilds ?? 1;
  if (!Number.isInteger(rebuilds) || rebuilds < 1 || rebuilds > MAX_REBUILDS) {
    throw new BuildError("input-invalid", `rebuilds must be a whole number from 1 to ${MAX_REBUILDS}, not ${rebuilds}`);
  }
  // The engine's first responses take 10 to 20 ms, so the ping runs while
  // the recipe is read and the source packed.
  const engine = connectEngine({ signal: request.signal });
  // Awaited below; a failure before that must not count as unhandled.
  engine.catch(() => {});
  // Only rebuilds vary the CPU set, so a single build does not ask for the
  // engine's CPU count.
  const engineInfo =
    rebuilds > 1 ? engine.then((connected) => connected.info() as Promise<{ NCPU: number }>) : Promise.resolve({ NCPU: 1 });
  engineInfo.catch(() => {});
  try {
    await makeFolders(staging).catch((error: Error) => {
      throw new BuildError(
        "out-invalid",
        `--out ${out}: cannot create the folder ${staging} beside it (${error.message}); give a folder on a writable file system`,
      );
    });
    const loaded = applyOverrides(await loadRecipe(request.recipe), recipeOverrides(request));
    const unpinned = await checkPinned(loaded, request.allowUnpinned ?? false);
    docker = await engine;

    progress.setPhase("source");
    source = await timed(timings, "source", () => prepareSource(sourceRequest(loaded, request)));

    checkAborted(signal);
    progress.setPhase("builder image");
    const builder = await timed(timings, "builder", () =>
      resolveBuilderImage(docker!, loaded, log, source!.root),
    );
    log.info({ builder }, "builder image ready");
    checkAborted(signal);
    const prepared = await timed(timings, "prepare", () =>
      prepare(loaded, unpinned, builder, source!, request, buildId),
    );
    log.info({ source: prepared.source.uri, digest: prepared.packed.sha256 }, "source packed");

    const engineCpus = (await engineInfo).NCPU;
    const builds: BuildOnceResult[] = [];
    const measurement = loadMeasurement();
    for (let index = 0; index < rebuilds; index++) {
      const variation = variationFor(index, engineCpus);
      const label = rebuilds > 1 ? `build ${index + 1}/${rebuilds}` : "build";
      log.info({ index, variation }, "build run started");
      const result = await timed(timings, `build-${index + 1}`, () =>
        buildOnce(docker!, prepared.plan, variation, join(staging, `build-${index + 1}`), {
          signal,
          log,
          containers,
          deferRemoval: (removal) => removals.push(removal.catch(() => {})),
          onPhase: (phase) => progress.setPhase(`${label}: ${phase}`),
          onLine: (line) => progress.setLine(line),
        }),
      );
      builds.push(result);
    }

    // The output copy does not watch the signal, so an interrupt during it
    // ends the build here, before anything reaches --out.
    checkAborted(signal);
    progress.setPhase("measure");
    const baseline = builds[0]!;
    const image = baseline.files.find((file) => file.image)!;
    await measurement;
    const measured = await timed(timings, "measure", () =>
      measureImage(join(staging, "build-1", image.name), image.name, measureFlags(loaded, prepared.options)),
    );

    const identical = builds.every((build) => sameFiles(build, baseline));
    const record = makeRecord({
      buildId,
      prepared,
      builds,
      measurement: measured,
      reproducibility: {
        builds: rebuilds,
        identical,
        variations: variedConditions(rebuilds, engineCpus),
        imageSha384: builds.map((build) => build.files.find((file) => file.image)!.sha384),
      },
      started,
      timings,
    });

    if (!identical) {
      const difference = await keepDifference(staging, out, buildId, builds, image.name);
      log.warn({ keptDir: difference.keptDir }, "builds differ");
      return { buildId, reproducible: false, record, written: [], removedStale: [], logPath, difference };
    }

    log.info({ servtdInfoHash: measured.servtdInfoHash }, "build finished");
    checkAborted(signal);
    const { written, removedStale } = await publishOutputs(staging, out, image.name, baseline, record, logPath);
    return { buildId, reproducible: true, record, written, removedStale, logPath };
  } catch (error) {
    log.error({ err: error }, "build failed");
    throw engineFailure(error);
  } finally {
    progress.stop();
    await Promise.all(removals);
    await removeAll(containers, log);
    await rm(staging, { recursive: true, force: true });
    await source?.cleanup();
    log.flush();
  }
}

/**
 * Rejects an output folder that is an existing file, or whose nearest
 * existing parent is not a folder, before anything is built. Missing
 * folders are created when the outputs are moved in.
 */
async function checkOutFolder(out: string): Promise<void> {
  let path = out;
  for (;;) {
    const info = await stat(path).catch((error: NodeJS.ErrnoException) => {
      if (error.code === "ENOENT" || error.code === "ENOTDIR") return undefined;
      throw error;
    });
    if (info?.isDirectory()) return;
    if (info) {
      const location = path === out ? "is" : `is inside ${path}, which is`;
      throw new BuildError("out-invalid", `--out ${out} ${location} an existing file, not a folder; give a folder path`);
    }
    if (dirname(path) === path) return;
    path = dirname(path);
  }
}

/** Text of a log call for the status line: an output line, else the message. */
function statusText(args: unknown[]): string {
  const [first, second] = args;
  if (typeof first === "string") return first;
  const line = (first as { line?: unknown } | null)?.line;
  if (typeof line === "string") return line;
  return typeof second === "string" ? second : "";
}

async function timed<T>(timings: Record<string, number>, name: string, step: () => Promise<T>): Promise<T> {
  const start = Date.now();
  try {
    return await step();
  } finally {
    timings[name] = Date.now() - start;
  }
}

/**
 * Collects the overrides that resolve-recipe.ts applies before anything
 * runs: user, source path, and the commit and tag when the recipe itself
 * builds git.
 */
function recipeOverrides(request: BuildRequest): RecipeOverrides {
  const overrides: RecipeOverrides = { user: request.user, sourcePath: request.sourcePath };
  if (request.source?.kind === "dir") overrides.sourceDir = request.source.dir;
  // With --git the tag belongs to that repository and is checked after cloning.
  if (request.tag !== undefined && request.source === undefined) overrides.tag = request.tag;
  if (request.rev !== undefined) overrides.rev = request.rev;
  return overrides;
}

function sourceRequest(loaded: LoadedRecipe, request: BuildRequest): SourceRequest {
  if (request.source?.kind === "git") return { ...request.source, tag: request.tag, tagFrom: "--tag" };
  const source = recipeSource(loaded.recipe.source, loaded.dir);
  if (source.kind === "git" && request.tag !== undefined) source.tagFrom = "--tag";
  return source;
}

async function prepare(
  loaded: LoadedRecipe,
  unpinned: boolean,
  builder: BuilderImage,
  source: PreparedSource,
  request: BuildRequest,
  buildId: string,
): Promise<PreparedBuild> {
  const { recipe } = loaded;
  const preset = presetOf(loaded, request.preset);
  const resolvedOptions = resolveOptions(loaded, { ...preset?.options, ...request.options });
  const inputs = await resolveInputs(loaded, {
    files: request.inputs ?? {},
    sourceFiles: preset?.sourceInputs ?? {},
    sourceRoot: source.root,
    options: resolvedOptions.values,
  });
  const sourceDateEpoch = source.commitTime ?? recipe.sourceDateEpoch;
  const packed = await packSource(source.root, {
    uid: recipe.user.uid,
    gid: recipe.user.gid,
    mtime: sourceDateEpoch,
    keepGitMetadata: "git" in recipe.source && recipe.source.keepGitMetadata === true,
    containerPath: recipe.sourcePath,
    // One archive carries the home folder, the source and the input files,
    // so the first container is prepared in one request.
    before: homeFolder(recipe),
    after: inputFiles(inputs.filter((input) => !input.fromSource)),
  });

  const env: Record<string, string> = {
    ...recipe.env,
    [SOURCE_REV_ENV]: source.commit ?? "",
    [SOURCE_TAG_ENV]: source.commit ? sourceTag(recipe, request) : "",
    ...resolvedOptions.env,
    HOME: recipe.user.home,
    USER: recipe.user.name,
    LOGNAME: recipe.user.name,
    SOURCE_DATE_EPOCH: String(sourceDateEpoch),
    TZ: "UTC",
    LANG: "C.UTF-8",
    LC_ALL: "C.UTF-8",
  };
  const plan: BuildPlan = {
    buildId,
    recipe,
    imageId: builder.id,
    sourceTar: packed.containerTar!,
    inputs: inputs.filter((input) => !input.fromSource),
    env,
    commands: phaseCommands(recipe, resolvedOptions.values, inputs),
    outputs: resolveOutputs(recipe, resolvedOptions.values),
    sourceDateEpoch,
    timeoutSeconds: request.timeoutSeconds ?? recipe.timeoutSeconds,
    memoryBytes: request.memoryBytes ?? recipe.limits.memoryBytes,
    cpus: request.cpus ?? recipe.limits.cpus,
  };
  return { loaded, unpinned, builder, source, packed, options: resolvedOptions.values, inputs, plan };
}

/** Returns the home folder's entry, unless the source path is the home folder. */
function homeFolder(recipe: Recipe): TarEntry[] {
  if (recipe.user.home === recipe.sourcePath || recipe.user.home === "/") return [];
  return [{ type: "directory", name: recipe.user.home.slice(1), mode: 0o755 }];
}

/** Returns the tag the built commit is checked against, or "" for none. */
function sourceTag(recipe: Recipe, request: BuildRequest): string {
  if (request.tag !== undefined) return request.tag;
  if ("git" in recipe.source) return recipe.source.tag ?? "";
  return "";
}

function sameFiles(a: BuildOnceResult, b: BuildOnceResult): boolean {
  const digest = (build: BuildOnceResult) =>
    build.files.map((file) => `${file.name}\0${file.sha384}`).sort().join("\n");
  return digest(a) === digest(b);
}

/** Moves the builds' outputs next to the output folder and compares the first differing image pair. */
async function keepDifference(
  staging: string,
  out: string,
  buildId: string,
  builds: BuildOnceResult[],
  imageName: string,
) {
  const keptDir = `${out}.unreproducible-${buildId}`;
  await rename(staging, keptDir);
  const other = builds.findIndex((build) => !sameFiles(build, builds[0]!));
  const imageA = join(keptDir, "build-1", imageName);
  const imageB = join(keptDir, `build-${other + 1}`, imageName);
  const { diffImages } = await loadMeasurement();
  const diff = diffImages(await readFile(imageA), await readFile(imageB));
  return { diff, keptDir, imageA, imageB };
}

/** Files that `build --sign` writes beside the image, stale once the image is replaced. */
function signedFiles(stem: string): string[] {
  return [`${stem}.intoto.jsonl`, "SHA256SUMS", "SHA384SUMS"];
}

/**
 * Writes the record, hash and log beside the outputs and renames them into
 * `out`. An earlier build's attestation and checksum files beside the image
 * no longer match it, so they are removed first, unless this build made them.
 */
async function publishOutputs(
  staging: string,
  out: string,
  imageName: string,
  baseline: BuildOnceResult,
  record: BuildRecord,
  logPath: string,
): Promise<{ written: string[]; removedStale: string[] }> {
  const folder = join(staging, "build-1");
  const stem = imageStem(imageName);
  const side = sideFileNames(imageName);
  const extra = { hash: side.servtdInfoHash, record: side.buildRecord, log: side.buildLog };
  await writeFile(join(folder, extra.hash), `${record.measurement.servtdInfoHash}\n`);
  await writeFile(join(folder, extra.record), `${JSON.stringify(record, null, 2)}\n`);
  await copyFile(logPath, join(folder, extra.log));

  const names = [...baseline.files.map((file) => file.name), extra.hash, extra.record, extra.log];
  await makeFolders(out);
  const imageFolder = dirname(join(out, imageName));
  const removedStale: string[] = [];
  for (const name of signedFiles(stem)) {
    const path = join(imageFolder, name);
    if (names.some((written) => join(out, written) === path) || !existsSync(path)) continue;
    await rm(path, { force: true });
    removedStale.push(path);
  }

  const written: string[] = [];
  for (const name of names) {
    await mkdir(dirname(join(out, name)), { recursive: true });
    await rename(join(folder, name), join(out, name));
    written.push(join(out, name));
  }
  return { written, removedStale };
}

async function removeAll(containers: Set<Docker.Container>, log: Logger): Promise<void> {
  for (const container of [...containers]) {
    await removeContainer(container, { containers, log }).catch(() => {});
  }
}
