#!/usr/bin/env node
import { ReproError } from "../attest/errors.js";
import type { Command } from "./command.js";
import { EXIT, EXIT_BY_KIND, EXIT_STATUS_HELP } from "./exit.js";
import { handleSignals } from "./interrupt.js";

interface CommandEntry {
  summary: string;
  load: () => Promise<Command>;
  /** Work to start before the command's module loads and parses its arguments. */
  start?: () => Promise<void>;
}

/**
 * Subcommands, loaded on demand so that `hash`, `measure` and `verify` never
 * load the Docker or GitHub client modules.
 */
const COMMANDS: Record<string, CommandEntry> = {
  build: {
    summary: "build a guest firmware in its pinned container and measure it",
    load: () => import("./commands/build.js"),
  },
  hash: {
    summary: "compute SERVTD_INFO_HASH of an image (upstream migtd-hash options)",
    load: () => import("./commands/hash.js"),
  },
  measure: {
    summary: "show an image's TD metadata, MRTD in both page orders, RTMRs, CFV files",
    load: () => import("./commands/measure.js"),
  },
  enroll: {
    summary: "write a policy and root CA into an image's CFV, like td-shim-enroll",
    load: () => import("./commands/enroll.js"),
  },
  diff: {
    summary: "explain how two TD images differ, by section and CFV file",
    load: () => import("./commands/diff.js"),
  },
  keygen: {
    summary: "create an ECDSA P-256 or Ed25519 signing key pair",
    load: () => import("./commands/keygen.js"),
  },
  attest: {
    summary: "sign attestations for an existing build record",
    load: () => import("./commands/attest.js"),
  },
  verify: {
    summary: "verify an image against its signed attestations",
    load: () => import("./commands/verify.js"),
    // The worker thread that hashes the image takes 25 to 35 ms to start.
    // The command's entry file (scripts/entry.cjs) has already started it,
    // unless the bundle (dist/bin/cli.cjs) or dist/cli/main.js runs directly.
    start: async () => (await import("./file-digests.js")).prestartDigestWorker(),
  },
  publish: {
    summary: "publish an output folder as GitHub release assets",
    load: () => import("./commands/publish.js"),
  },
  plan: {
    summary: "print what a recipe would run, with every pin, without running it",
    load: () => import("./commands/plan.js"),
  },
};

function mainHelp(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((name) => name.length));
  const lines = Object.entries(COMMANDS).map(
    ([name, { summary }]) => `  ${name.padEnd(width)}  ${summary}`,
  );
  return `Usage: migtd-repro COMMAND [OPTIONS]

Reproducible, verifiable builds of Intel TDX MigTD firmware.

Commands:
${lines.join("\n")}

Run 'migtd-repro COMMAND --help' for a command's options.

${EXIT_STATUS_HELP}
`;
}

async function main(argv: string[]): Promise<number> {
  // A dependency's deprecation warning is not the user's to act on, and it
  // would break the one-line error (docker-modem builds an invalid URL for
  // an ssh:// DOCKER_HOST with a port).
  process.noDeprecation = true;
  handleSignals();
  reportOutputErrors();
  const [name, ...rest] = argv;

  if (name === undefined || name === "-h" || name === "--help" || name === "help") {
    process.stdout.write(mainHelp());
    return name === undefined ? EXIT.invalidInput : EXIT.ok;
  }

  if (name === "--version") {
    const { packageVersion } = await import("../config/package-root.js");
    process.stdout.write(`${packageVersion()}\n`);
    return EXIT.ok;
  }

  const entry = COMMANDS[name];
  if (entry === undefined) {
    process.stderr.write(
      `migtd-repro: unknown command '${name}' (see 'migtd-repro --help')\n`,
    );
    return EXIT.invalidInput;
  }

  // After "--" every argument is a value, such as an image named --help.
  const options = rest.includes("--") ? rest.slice(0, rest.indexOf("--")) : rest;
  const wantsHelp = options.includes("-h") || options.includes("--help");
  if (!wantsHelp) await entry.start?.();
  const command = await entry.load();
  if (wantsHelp) {
    const help = command.helpFor ? await command.helpFor(rest) : command.help;
    process.stdout.write(help.endsWith("\n") ? help : `${help}\n`);
    return EXIT.ok;
  }

  return command.run(rest);
}

/** Set when a write to stdout failed for a reason other than a closed pipe. */
let outputFailed = false;

/**
 * Turns a failed write to stdout into one line and exit status 3 instead of
 * an uncaught 'error' event. A reader that closed the pipe early (EPIPE, as
 * with `| head`) is not an error: the rest of the output is dropped and the
 * command's own status stays.
 */
function reportOutputErrors(): void {
  process.stdout.on("error", (error: NodeJS.ErrnoException) => {
    if (error.code === "EPIPE" || outputFailed) return;
    outputFailed = true;
    process.stderr.write(`migtd-repro: cannot write to standard output: ${error.message}\n`);
    if (!process.exitCode) process.exitCode = EXIT.environment;
  });
}

function report(error: unknown): number {
  if (error instanceof ReproError) {
    process.stderr.write(`migtd-repro: ${error.message}\n`);
    return EXIT_BY_KIND[error.kind as keyof typeof EXIT_BY_KIND];
  }

  const message = error instanceof Error ? error.message : String(error);
  process.stderr.write(
    `migtd-repro: internal error: ${message.split("\n")[0]} (set MIGTD_REPRO_DEBUG=1 for the stack trace)\n`,
  );
  if (process.env.MIGTD_REPRO_DEBUG) console.error(error);
  return EXIT.internal;
}

main(process.argv.slice(2)).then(
  (status) => {
    process.exitCode = outputFailed && status === EXIT.ok ? EXIT.environment : status;
  },
  (error: unknown) => {
    process.exitCode = report(error);
  },
);
