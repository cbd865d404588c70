import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/**
 * Returns the folder that contains migtd-repro's package.json, where
 * `config/`, `guest/` and `docker/` live. Compiled code runs from `dist/config/`, so it is two
 * levels up from this file.
 */
export function packageRoot(): string {
  return join(dirname(fileURLToPath(import.meta.url)), "..", "..");
}

/** Resolves a path inside the installed package, such as `config/servtd_info.json`. */
export function packagePath(...parts: string[]): string {
  return join(packageRoot(), ...parts);
}

export function packageVersion(): string {
  const manifest = JSON.parse(
    readFileSync(packagePath("package.json"), "utf8"),
  ) as { version: string };
  return manifest.version;
}
