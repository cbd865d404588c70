import { randomBytes } from "node:crypto";
import { chmod, realpath, rename, rm, stat, writeFile } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { ReproError, type ErrorKind } from "../attest/errors.js";

export type OutputFileErrorCode = "output-file";

/** An output path that cannot be written: no such folder, a folder, no permission, a full disk. */
export class OutputFileError extends ReproError<OutputFileErrorCode> {
  constructor(
    message: string,
    cause: unknown,
    /** The error's kind: environment for a full or failing disk, invalid-input for a bad path. */
    readonly kind: ErrorKind = "invalid-input",
  ) {
    super("output-file", message, { cause });
  }
}

/**
 * Paths that name this process's stdout or stderr rather than a file. With
 * `-o /dev/stdout > out.json` the descriptor is a regular file the shell
 * opened, and replacing that file would drop a `>>` append.
 */
const STANDARD_STREAMS = new Map<string, NodeJS.WriteStream>([
  ["/dev/stdout", process.stdout],
  ["/dev/fd/1", process.stdout],
  ["/proc/self/fd/1", process.stdout],
  ["/dev/stderr", process.stderr],
  ["/dev/fd/2", process.stderr],
  ["/proc/self/fd/2", process.stderr],
]);

/**
 * Writes a file so that readers see either the old content or the whole new
 * content: the data goes to a temporary file in the same folder (so the
 * rename stays on one file system) and is then renamed over the target. On
 * failure the temporary file is removed and the target is left untouched.
 * A path the user cannot write to raises an OutputFileError.
 *
 * A symbolic link is followed: the file it points to is replaced, not the
 * link. A target that exists and is not a regular file (a character device,
 * a FIFO, a socket) is opened and written in place, because renaming over it
 * would replace the device. /dev/stdout and /dev/stderr are written through
 * the process's own streams. An
 * existing regular file keeps its permission bits; `mode` applies to a new
 * file and, for an existing one, only removes bits (a private key written
 * with 0600 over a 0644 file ends up 0600).
 */
export async function writeFileAtomic(
  path: string,
  data: string | Uint8Array,
  options: { mode?: number } = {},
): Promise<void> {
  // Checked first, so that no temporary file is written beside a folder.
  await checkOutputPath(path);

  // stat follows links, including /dev/stdout -> /proc/self/fd/1 when fd 1
  // is a pipe or socket, which realpath cannot resolve to a path.
  const existing = await stat(path).catch(() => undefined);
  const stream = STANDARD_STREAMS.get(path);
  if (stream !== undefined || (existing !== undefined && !existing.isFile())) {
    await writeInPlace(path, stream, data).catch((error: unknown) => {
      throw outputError(path, error);
    });
    return;
  }

  const target = existing === undefined ? path : await realpath(path);
  const suffix = randomBytes(6).toString("hex");
  const temporary = join(dirname(target), `.${basename(target)}.${suffix}.tmp`);

  try {
    await writeFile(temporary, data, { mode: options.mode, flag: "wx" });
    if (existing !== undefined) {
      // chmod ignores the umask, so the copy gets exactly the old bits.
      await chmod(temporary, existing.mode & (options.mode ?? 0o7777) & 0o7777);
    }
    await rename(temporary, target);
  } catch (error) {
    // rm raises ENOTDIR when the parent is a file, and then no temporary file exists.
    await rm(temporary, { force: true }).catch(() => undefined);
    throw outputError(path, error);
  }
}

/**
 * Writes to stdout or stderr, or opens a device or FIFO and writes to it.
 * The standard streams are used as they are because a socket, which is what
 * a parent process often gives as stdout, cannot be opened by path (ENXIO).
 */
async function writeInPlace(
  path: string,
  stream: NodeJS.WriteStream | undefined,
  data: string | Uint8Array,
): Promise<void> {
  if (stream === undefined) {
    // Append, as a shell's `>>` expects. Devices and FIFOs ignore the flag.
    await writeFile(path, data, { flag: "a" });
    return;
  }
  await new Promise<void>((resolve, reject) => {
    stream.write(data, (error) => (error ? reject(error) : resolve()));
  });
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
    case "ENXIO":
      return new OutputFileError(`cannot write ${path}: it is a socket or a missing device; give a file path`, error);
    case "EROFS":
      return new OutputFileError(`cannot write ${path}: the file system is read-only`, error);
    case "ENOSPC":
    case "EDQUOT":
      return new OutputFileError(`cannot write ${path}: no space left on the device; free some space and run again`, error, "environment");
    case "EIO":
      return new OutputFileError(`cannot write ${path}: input/output error on the device`, error, "environment");
    default:
      return error;
  }
}
