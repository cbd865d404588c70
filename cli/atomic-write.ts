import { randomBytes } from "node:crypto";
import { rename, rm, stat, writeFile } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { ReproError } from "../attest/errors.js";

export type OutputFileErrorCode = "output-file";

/** An output path the user gave that cannot be written: no such folder, a folder, no permission. */
export class OutputFileError extends ReproError<OutputFileErrorCode> {
  readonly kind = "invalid-input" as const;

  constructor(message: string, cause: unknown) {
    super("output-file", message, { cause });
  }
}

/**
 * Writes a file so that readers see either the old content or the whole new
 * content: the data goes to a temporary file in the same folder (so the
 * rename stays on one file system) and is then renamed over the target. On
 * failure the temporary file is removed and the target is left untouched.
 * A path the user cannot write to raises an OutputFileError.
 */
export async function writeFileAtomic(
  path: string,
  data: string | Uint8Array,
  options: { mode?: number } = {},
): Promise<void> {
  // Checked first, so that no temporary file is written beside a folder.
  await checkOutputPath(path);

  const suffix = randomBytes(6).toString("hex");
  const temporary = join(dirname(path), `.${basename(path)}.${suffix}.tmp`);

  try {
    await writeFile(temporary, data, { mode: options.mode, flag: "wx" });
    await rename(temporary, path);
  } catch (error) {
    // rm raises ENOTDIR when the parent is a file, and then no temporary file exists.
    await rm(temporary, { force: true }).catch(() => undefined);
    throw outputError(path, error);
  }
}

/**
 * Raises the OutputFileError that writeFileAtomic would raise for a target
 * that is a folder or whose folder is missing, without writing anything.
 * A command that writes several files checks them all first.
 */
export async function checkOutputPath(path: string): Promise<void> {
  const target = await stat(path).catch(() => undefined);
  if (target?.isDirectory()) throw folderError(path, undefined);

  const folder = dirname(path);
  const parent = await stat(folder).catch((error: unknown) => {
    throw outputError(path, error);
  });
  if (!parent.isDirectory()) {
    throw new OutputFileError(`cannot write ${path}: ${folder} is not a folder`, undefined);
  }
}

function folderError(path: string, cause: unknown): OutputFileError {
  return new OutputFileError(`${path} is a folder; give a file path`, cause);
}

/** Names the reason a write failed in the user's terms; other errors pass through. */
function outputError(path: string, error: unknown): unknown {
  const code = error instanceof Error && "code" in error ? error.code : undefined;
  const folder = dirname(path);
  switch (code) {
    case "ENOENT":
      return new OutputFileError(`cannot write ${path}: folder ${folder} does not exist`, error);
    case "ENOTDIR":
      return new OutputFileError(`cannot write ${path}: ${folder} is not a folder`, error);
    case "EISDIR":
      return folderError(path, error);
    case "EACCES":
    case "EPERM":
      return new OutputFileError(`cannot write ${path}: permission denied`, error);
    case "EROFS":
      return new OutputFileError(`cannot write ${path}: the file system is read-only`, error);
    default:
      return error;
  }
}
