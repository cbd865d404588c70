import { PassThrough, Readable } from "node:stream";
import { createInterface } from "node:readline";
import type Docker from "dockerode";
import type { Logger } from "pino";
import { BuildError } from "./errors.js";
import type { Recipe } from "./recipe-schema.js";

type PhaseSpec = Recipe["phases"][number];

/** Label on every container the pipeline creates; its value is the build ID. */
export const BUILD_LABEL = "org.migtd-repro.build";
/** Label with the recipe name, for finding a recipe's containers. */
export const RECIPE_LABEL = "org.migtd-repro.recipe";

/** Number of build output lines kept for error messages. */
export const LOG_TAIL_LINES = 50;

/** Everything that defines one phase's container. */
export interface PhaseContainerSpec {
  imageId: string;
  buildId: string;
  recipeName: string;
  phase: PhaseSpec;
  /** Environment passed to the engine; nothing from the host is added. */
  env: Record<string, string>;
  uid: number;
  gid: number;
  sourcePath: string;
  hostname: string;
  /** File mode creation mask of the build command, octal string such as "0022". */
  umask: string;
  cpuset?: string;
  memoryBytes?: number;
  cpus?: number;
}

/** Docker network mode of a phase: none unless the recipe turns networking on. */
export function networkMode(phase: PhaseSpec): string {
  return phase.network ? "bridge" : "none";
}

/**
 * Builds the engine's create-container body for a phase. The command runs under
 * `/bin/sh` only to set the umask, then replaces the shell with the
 * recipe's argv, so the builder image must contain /bin/sh.
 */
export function containerOptions(spec: PhaseContainerSpec): Docker.ContainerCreateOptions {
  const wrapper = `umask ${spec.umask} && exec "$@"`;
  return {
    Image: spec.imageId,
    Cmd: ["/bin/sh", "-c", wrapper, "migtd-repro-umask", ...spec.phase.command],
    Entrypoint: [],
    Env: Object.entries(spec.env).map(([name, value]) => `${name}=${value}`),
    User: `${spec.uid}:${spec.gid}`,
    WorkingDir: spec.sourcePath,
    Hostname: spec.hostname,
    Labels: {
      [BUILD_LABEL]: spec.buildId,
      [RECIPE_LABEL]: spec.recipeName,
      "org.migtd-repro.phase": spec.phase.name,
    },
    AttachStdout: true,
    AttachStderr: true,
    Tty: false,
    OpenStdin: false,
    HostConfig: {
      NetworkMode: networkMode(spec.phase),
      Init: true,
      Binds: [],
      Mounts: [],
      SecurityOpt: ["no-new-privileges"],
      ...(spec.memoryBytes ? { Memory: spec.memoryBytes, MemorySwap: spec.memoryBytes } : {}),
      ...(spec.cpus ? { NanoCpus: Math.round(spec.cpus * 1e9) } : {}),
      ...(spec.cpuset ? { CpusetCpus: spec.cpuset } : {}),
    },
  };
}

/** Result of a phase's command: exit code, duration and environment. */
export interface PhaseResult {
  exitCode: number;
  durationMs: number;
  /** The full environment inside the container, image defaults included. */
  env: Record<string, string>;
}

/** Limits on waiting for one phase. */
export interface PhaseControl {
  /** Absolute time (ms since the epoch) by which every phase must finish. */
  deadline: number;
  timeoutSeconds: number;
  signal: AbortSignal;
  log: Logger;
  onLine(line: string): void;
}

/**
 * Starts a prepared container, streams its output line by line to the log
 * and to `onLine`, and waits for it to exit. The container is killed when
 * the deadline passes or the signal aborts. A non-zero exit, a kill and an
 * out-of-memory kill each raise a BuildError carrying the last output lines.
 */
export async function runContainer(
  docker: Docker,
  container: Docker.Container,
  phase: PhaseSpec,
  control: PhaseControl,
): Promise<Omit<PhaseResult, "env">> {
  const tail: string[] = [];
  const attached = await container.attach({ stream: true, stdout: true, stderr: true });
  const drained = streamLines(docker, attached, (line) => {
    tail.push(line);
    if (tail.length > LOG_TAIL_LINES) tail.shift();
    control.log.info({ phase: phase.name, line }, "output");
    control.onLine(line);
  });

  const started = Date.now();
  let stopReason: "timeout" | "interrupted" | undefined;
  const kill = (reason: "timeout" | "interrupted") => {
    stopReason ??= reason;
    container.kill().catch(() => {});
  };
  const timer = setTimeout(() => kill("timeout"), Math.max(0, control.deadline - Date.now()));
  const onAbort = () => kill("interrupted");
  control.signal.addEventListener("abort", onAbort, { once: true });

  try {
    await container.start();
    if (control.signal.aborted) onAbort();
    const { StatusCode } = (await container.wait()) as { StatusCode: number };
    const durationMs = Date.now() - started;
    // The engine's state and the last output lines arrive independently.
    const [info] = await Promise.all([
      container.inspect().catch(() => undefined),
      settleWithin(drained, OUTPUT_DRAIN_MS),
    ]);

    if (stopReason === "interrupted") {
      throw new BuildError("interrupted", `build interrupted during phase '${phase.name}'`);
    }
    if (stopReason === "timeout") {
      throw new BuildError(
        "timeout",
        `phase '${phase.name}' timed out: the build exceeded ${control.timeoutSeconds} s and was killed ` +
          "(raise the limit with --timeout SECONDS)",
        { logTail: [...tail] },
      );
    }
    const state = (info ?? (await container.inspect())).State;
    if (state.OOMKilled || StatusCode === 137) {
      throw new BuildError(
        "out-of-memory",
        `phase '${phase.name}' ran out of memory: exit code ${StatusCode} (killed by SIGKILL` +
          `${state.OOMKilled ? ", the engine reports an out-of-memory kill" : ""}); raise the memory limit with --memory`,
        { logTail: [...tail], exitCode: StatusCode },
      );
    }
    if (StatusCode !== 0) {
      throw new BuildError(
        "command-failed",
        `phase '${phase.name}' failed: '${phase.command.join(" ")}' exited with code ${StatusCode}`,
        { logTail: [...tail], exitCode: StatusCode },
      );
    }
    return { exitCode: StatusCode, durationMs };
  } finally {
    clearTimeout(timer);
    control.signal.removeEventListener("abort", onAbort);
  }
}

/** Maximum wait for the last output lines after the container exits. */
const OUTPUT_DRAIN_MS = 2000;

/** Waits for a promise, but at most `ms`, without keeping the process alive. */
async function settleWithin(promise: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, ms);
  });
  try {
    await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Splits the engine's multiplexed stdout and stderr into lines. */
function streamLines(
  docker: Docker,
  attached: NodeJS.ReadWriteStream,
  onLine: (line: string) => void,
): Promise<void> {
  const output = new PassThrough();
  docker.modem.demuxStream(attached, output, output);
  attached.on("end", () => output.end());
  attached.on("error", () => output.end());
  const lines = createInterface({ input: output as Readable, crlfDelay: Infinity });
  lines.on("line", onLine);
  return new Promise((resolve) => lines.on("close", resolve));
}

/** Reads a container's environment after creation, image defaults included. */
export async function containerEnv(container: Docker.Container): Promise<Record<string, string>> {
  const info = await container.inspect();
  const env: Record<string, string> = {};
  for (const entry of info.Config.Env ?? []) {
    const split = entry.indexOf("=");
    env[entry.slice(0, split)] = entry.slice(split + 1);
  }
  return env;
}
