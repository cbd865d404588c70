import { mkdir, stat } from "node:fs/promises";
import { dirname, resolve } from "node:path";

/**
 * Creates a folder and its missing parents, like `mkdir -p`. Node's
 * `mkdir(path, { recursive: true })` never returns where creating an entry
 * fails with ENOENT below an existing folder, as in /proc; this raises
 * that error instead.
 */
export async function makeFolders(path: string, mode?: number): Promise<void> {
  const missing: string[] = [];
  for (let current = resolve(path); ; current = dirname(current)) {
    const info = await stat(current).catch((error: NodeJS.ErrnoException) => {
      if (error.code === "ENOENT") return undefined;
      throw error;
    });
    if (info !== undefined || dirname(current) === current) break;
    missing.push(current);
  }
  for (const folder of missing.reverse()) {
    await mkdir(folder, { mode }).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== "EEXIST") throw error;
    });
  }
}
