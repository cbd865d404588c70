import type { Stats } from "node:fs";
import { open, stat } from "node:fs/promises";
import { BuildError } from "./errors.js";

/**
 * Maximum size of a recipe input, a recipe or a SERVTD_INFO file: 1 MiB.
 * Policy and root CA files must fit in MigTD's CFV, about 640 KiB in its
 * image layout, so a real input is smaller.
 */
export const INPUT_LIMIT_BYTES = 1024 ** 2;

function fileKind(stats: Stats): string {
  if (stats.isDirectory()) return "a folder";
  if (stats.isCharacterDevice()) return "a character device";
  if (stats.isBlockDevice()) return "a block device";
  if (stats.isFIFO()) return "a FIFO";
  if (stats.isSocket()) return "a socket";
  return "not a file";
}

function checkStats(label: string, path: string, stats: Stats, limit: number): void {
  if (!stats.isFile()) {
    throw new BuildError("input-invalid", `${label} ${path} is ${fileKind(stats)}, not a regular file; give a file`);
  }
  if (stats.size > limit) {
    throw new BuildError(
      "input-invalid",
      `${label} ${path} is ${stats.size} bytes, larger than the ${limit / 1024 ** 2} MiB limit`,
    );
  }
}

/**
 * Reads a whole input file after checking that it is a regular file of at
 * most `limit` bytes. The path is checked with stat before it is opened,
 * because stat does not block on a FIFO. No more than `limit` bytes are read
 * even if the file grows after the check. File system errors (missing file,
 * no permission) are raised unchanged for the caller to word.
 */
export async function readInputFile(
  label: string,
  path: string,
  limit = INPUT_LIMIT_BYTES,
): Promise<Buffer<ArrayBuffer>> {
  checkStats(label, path, await stat(path), limit);
  const handle = await open(path, "r");
  try {
    checkStats(label, path, await handle.stat(), limit);
    const buffer = Buffer.alloc(limit + 1);
    let length = 0;
    while (length < buffer.length) {
      const { bytesRead } = await handle.read(buffer, length, buffer.length - length, length);
      if (bytesRead === 0) break;
      length += bytesRead;
    }
    if (length > limit) {
      throw new BuildError("input-invalid", `${label} ${path} grew past the ${limit / 1024 ** 2} MiB limit while it was read`);
    }
    return buffer.subarray(0, length);
  } finally {
    await handle.close();
  }
}
