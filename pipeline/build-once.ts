import { posix } from "node:path";
import type Docker from "dockerode";
import type { Logger } from "pino";
import { BuildError } from "./errors.js";
import {
  containerEnv,
  containerOptions,
  networkMode,
  runContainer,
  type PhaseContainerSpec,
} from "./container.js";
import { extractOutput, type ExtractedFile } from "./outputs.js";
import type { ResolvedInput } from "./parameters.js";
import type { Recipe } from "./recipe-schema.js";
import { packEntries, type TarEntry } from "./source-tar.js";
import type { BuildVariation } from "./variations.js";

type PhaseSpec = Recipe["phases"][number];

/** Everything one build of a recipe needs, fixed for all rebuilds. */
export interface BuildPlan {
  buildId: string;
  recipe: Recipe;
  imageId: string;
  /**
   * Archive for the first phase's container, unpacked at "/": the home
   * folder, the source tree below the source path and the input files.
   */
  sourceTar: Buffer;
  inputs: ResolvedInput[];
  /** Environment of every phase before the phase's own and the variation's. */
  env: Record<string, string>;
  /** Commands of each phase, after option and input flags are appended. */
  commands: string[][];
  /** Output paths after `pathWhen` is applied. */
  outputs: Recipe["outputs"];
  sourceDateEpoch: number;
  timeoutSeconds: number;
  memoryBytes?: number;
  cpus?: number;
}

/** Hooks and limits for one build. */
export interface BuildControl {
  signal: AbortSignal;
  log: Logger;
  onPhase(name: string): void;
  onLine(line: string): void;
  /** Containers created and not yet removed; the caller removes any left. */
  containers: Set<Docker.Container>;
  /**
   * Takes the removal of the last container, which then runs while the
   * caller measures the image; without it, buildOnce waits for the removal.
   */
  deferRemoval?(removal: Promise<void>): void;
}

export interface PhaseRecord {
  name: string;
  command: string[];
  network: string;
  exitCode: number;
  durationMs: number;
  /** Full container environment of the phase, image defaults included. */
  env: Record<string, string>;
}

export interface BuildOnceResult {
  phases: PhaseRecord[];
  files: ExtractedFile[];
}

/**
 * Runs every phase of a recipe, each in a new container that receives the
 * source tree from the previous one, then copies the outputs into
 * `stagingDir`. Containers are removed as soon as they are not needed.
 */
export async function buildOnce(
  docker: Docker,
  plan: BuildPlan,
  variation: BuildVariation,
  stagingDir: string,
  control: BuildControl,
): Promise<BuildOnceResult> {
  const deadline = Date.now() + plan.timeoutSeconds * 1000;
  const phases: PhaseRecord[] = [];
  let previous: Docker.Container | undefined;

  for (const [index, phase] of plan.recipe.phases.entries()) {
    checkAborted(control.signal);
    control.onPhase(phase.name);
    const command = plan.commands[index]!;
    const spec = phaseSpec(plan, { ...phase, command }, variation);
    const container = await createContainer(docker, spec);
    control.containers.add(container);
    control.log.info({ phase: phase.name, container: container.id, hostname: variation.hostname }, "container created");

    await prepareContainer(plan, container, previous);
    if (previous) await removeContainer(previous, control);
    previous = container;

    const env = await containerEnv(container);
    const result = await runContainer(docker, container, { ...phase, command }, {
      deadline,
      timeoutSeconds: plan.timeoutSeconds,
      signal: control.signal,
      log: control.log,
      onLine: control.onLine,
    });
    phases.push({ name: phase.name, command, network: networkMode(phase), env, ...result });
    control.log.info({ phase: phase.name, ...result }, "phase finished");
  }

  control.onPhase("outputs");
  const files: ExtractedFile[] = [];
  for (const output of plan.outputs) {
    checkAborted(control.signal);
    files.push(...(await extractOutput(previous!, plan.recipe.sourcePath, output, stagingDir)));
  }
  control.log.info({ files: files.map((file) => file.name) }, "outputs copied");
  const removal = removeContainer(previous!, control);
  if (control.deferRemoval) control.deferRemoval(removal);
  else await removal;
  return { phases, files };
}

function phaseSpec(plan: BuildPlan, phase: PhaseSpec, variation: BuildVariation): PhaseContainerSpec {
  const { recipe } = plan;
  return {
    imageId: plan.imageId,
    buildId: plan.buildId,
    recipeName: recipe.name,
    phase,
    env: { ...plan.env, ...phase.env, ...variation.extraEnv },
    uid: recipe.user.uid,
    gid: recipe.user.gid,
    sourcePath: recipe.sourcePath,
    hostname: variation.hostname,
    umask: variation.umask,
    cpuset: variation.cpuset,
    memoryBytes: plan.memoryBytes,
    cpus: plan.cpus,
  };
}

/**
 * Puts the home folder and source path, the source tree (from the packed
 * source, or from the previous phase's container with its persisted
 * paths) and the input files into a created container.
 */
async function prepareContainer(
  plan: BuildPlan,
  container: Docker.Container,
  previous: Docker.Container | undefined,
): Promise<void> {
  if (previous === undefined) {
    await container.putArchive(plan.sourceTar, { path: "/" });
    return;
  }

  const { recipe } = plan;
  const owner = { uid: recipe.user.uid, gid: recipe.user.gid, mtime: plan.sourceDateEpoch };
  const folders = [...new Set([recipe.user.home, recipe.sourcePath])]
    .sort()
    .map((path): TarEntry => ({ type: "directory", name: path.slice(1), mode: 0o755 }));
  await container.putArchive(await packEntries(folders, owner), { path: "/" });

  for (const path of [recipe.sourcePath, ...(recipe.persist ?? [])]) {
    await carryPath(previous, container, path);
  }

  const files = inputFiles(plan.inputs);
  if (files.length) {
    await container.putArchive(await packEntries(files, owner), { path: "/" });
  }
}

/** Lists input files as archive entries at their container paths (relative to "/"). */
export function inputFiles(inputs: ResolvedInput[]): TarEntry[] {
  return inputs.map((input) => ({
    type: "file",
    name: input.containerPath.slice(1),
    mode: 0o644,
    data: input.bytes,
  }));
}

/** Copies a path from one container to the same path in another, if it exists. */
async function carryPath(from: Docker.Container, to: Docker.Container, path: string): Promise<void> {
  let archive: NodeJS.ReadableStream;
  try {
    archive = await from.getArchive({ path });
  } catch (error) {
    if ((error as { statusCode?: number }).statusCode === 404) return;
    throw error;
  }
  await to.putArchive(archive, { path: posix.dirname(path) });
}

/** Removes a container with its anonymous volumes; a container already gone is fine. */
export async function removeContainer(
  container: Docker.Container,
  control: Pick<BuildControl, "containers" | "log">,
): Promise<void> {
  try {
    await container.remove({ force: true, v: true });
  } catch (error) {
    if ((error as { statusCode?: number }).statusCode !== 404) {
      control.log.error({ container: container.id, err: error }, "container removal failed");
      throw error;
    }
  }
  control.containers.delete(container);
  control.log.info({ container: container.id }, "container removed");
}

/**
 * Creates a phase's container. The engine returns status 400 for a limit
 * it rejects (such as a memory limit below 6 MiB), which becomes a build
 * error with the engine's message.
 */
async function createContainer(docker: Docker, spec: PhaseContainerSpec): Promise<Docker.Container> {
  try {
    return await docker.createContainer(containerOptions(spec));
  } catch (error) {
    if ((error as { statusCode?: number }).statusCode !== 400) throw error;
    const reason = (error as { json?: { message?: string } }).json?.message ?? (error as Error).message;
    throw new BuildError(
      "container-rejected",
      `the Docker engine rejected the container of phase '${spec.phase.name}': ${reason}; check --memory and --cpus`,
      { cause: error },
    );
  }
}

/** Raises the interrupted error once the build's signal has aborted. */
export function checkAborted(signal: AbortSignal): void {
  if (signal.aborted) throw new BuildError("interrupted", "build interrupted");
}
