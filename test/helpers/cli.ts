import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { packagePath } from "../../config/package-root.js";

const CLI = packagePath("dist", "bin", "migtd-repro.js");

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
 * Runs the CLI with a module resolve hook that records every module URL
 * the process loads, and returns the result with that list.
 */
export function runCliRecordingModules(args: string[]) {
  const dir = tempDir();
  const log = join(dir, "modules.log");
  const hooks = join(dir, "hooks.mjs");
  const register = join(dir, "register.mjs");
  writeFileSync(log, "");
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

  const result = spawnSync(process.execPath, ["--import", pathToFileURL(register).href, CLI, ...args], { encoding: "utf8" });
  const modules = readFileSync(log, "utf8").split("\n").filter(Boolean);
  return { ...result, modules };
}
