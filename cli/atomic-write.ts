import { randomBytes } from "node:crypto";
import { rm, writeFile, rename } from "node:fs/promises";
import { basename, dirname, join } from "node:path";

/**
 * Writes a file so that readers see either the old content or the whole new
 * content: the data goes to a temporary file in the same folder (so the
 * rename stays on one file system) and is then renamed over the target. On
 * failure the temporary file is removed and the target is left untouched.
 */
export async function writeFileAtomic(
  path: string,
  data: string | Uint8Array,
  options: { mode?: number } = {},
): Promise<void> {
  const suffix = randomBytes(6).toString("hex");
  const temporary = join(dirname(path), `.${basename(path)}.${suffix}.tmp`);

  try {
    await writeFile(temporary, data, { mode: options.mode, flag: "wx" });
    await rename(temporary, path);
  } catch (error) {
    await rm(temporary, { force: true });
    throw error;
  }
}
