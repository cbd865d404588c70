import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { packagePath } from "../../config/package-root.js";

const CLI = packagePath("dist", "bin", "migtd-repro.cjs");

export function runCli(args: string[], options: { cwd?: string } = {}) {
  return spawnSync(process.execPath, [CLI, ...args], { encoding: "utf8", cwd: options.cwd });
}

/** Same as runCli with stdout as bytes. */
export function runCliBinary(args: string[]) {
  return spawnSync(process.execPath, [CLI, ...args]);
}

const createdDirs: string[] = [];

/** A fresh temporary folder, removed when the test process exits. */
export function tempDir(): string {
  if (createdDirs.length === 0) {
    process.on("exit", () => {
      for (const dir of createdDirs) rmSync(dir, { recursive: true, force: true });
    });
  }
  const dir = mkdtempSync(join(tmpdir(), "migtd-repro-test-"));
  createdDirs.push(dir);
  return dir;
}

/**
 * Returns Node options that record every module the process loads into
 * `log`, one absolute path or URL per line. A require() hook (--require)
 * sees the bundled CommonJS CLI and its vendored packages, and a resolve
 * hook (--import) sees ES modules such as octokit and execa.
 */
export function moduleRecordingArgs(log: string): string[] {
  const dir = tempDir();
  const requireHook = join(dir, "require-hook.cjs");
  const hooks = join(dir, "hooks.mjs");
  const register = join(dir, "register.mjs");
  writeFileSync(log, "");
  writeFileSync(
    requireHook,
    `const Module = require("node:module");
const { appendFileSync } = require("node:fs");
const resolveFilename = Module._resolveFilename;
Module._resolveFilename = function (...args) {
  const resolved = resolveFilename.apply(this, args);
  appendFileSync(${JSON.stringify(log)}, resolved + "\\n");
  return resolved;
};
`,
  );
  writeFileSync(
    hooks,
    `import { appendFileSync } from "node:fs";
export async function resolve(specifier, context, next) {
  const result = await next(specifier, context);
  appendFileSync(${JSON.stringify(log)}, result.url + "\\n");
  return result;
}
`,
  );
  writeFileSync(register, `import { register } from "node:module";\nregister(${JSON.stringify(pathToFileURL(hooks).href)});\n`);
  return ["--require", requireHook, "--import", pathToFileURL(register).href];
}

/**
 * Returns Node options that record each worker thread the process creates
 * into `log`, one line per Worker with the stack frame that created it.
 * Workers run the hook too, and record the workers they create.
 */
export function workerRecordingArgs(log: string): string[] {
  const hook = join(tempDir(), "worker-hook.cjs");
  writeFileSync(log, "");
  writeFileSync(
    hook,
    `const threads = require("node:worker_threads");
const { appendFileSync } = require("node:fs");
const Worker = threads.Worker;
threads.Worker = class extends Worker {
  constructor(...args) {
    const caller = new Error().stack.split("\\n")[2] ?? "";
    appendFileSync(${JSON.stringify(log)}, caller.trim() + "\\n");
    super(...args);
  }
};
`,
  );
  return ["--require", hook];
}

/** Modules of the Docker and GitHub clients, bundled under dist/bin/vendor/ or in node_modules. */
export const CLIENT_MODULES = /(node_modules|vendor)\/(dockerode|docker-modem|ssh2|octokit|@octokit)(\/|\.cjs$)/;

/**
 * Runs the CLI with the hooks of moduleRecordingArgs and returns the result
 * with the list of modules it loaded.
 */
export function runCliRecordingModules(args: string[]) {
  const log = join(tempDir(), "modules.log");
  const result = spawnSync(process.execPath, [...moduleRecordingArgs(log), CLI, ...args], { encoding: "utf8" });
  const modules = readFileSync(log, "utf8").split("\n").filter(Boolean);
  return { ...result, modules };
}
