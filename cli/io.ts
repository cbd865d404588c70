import { closeSync, fstatSync, openSync, readFileSync, readSync } from "node:fs";
import { ReproError } from "../attest/errors.js";

export type InputFileErrorCode = "input-file";

/** A file named on the command line that is missing, unreadable or malformed. */
export class InputFileError extends ReproError<InputFileErrorCode> {
  readonly kind = "invalid-input" as const;

  constructor(message: string) {
    super("input-file", message);
  }
}

/**
 * Larger than any TD firmware image (MigTD and td-shim: 16 MiB, OVMF: 4 MiB),
 * so a wrong path to a disk image fails fast instead of filling memory.
 */
export const MAX_IMAGE_FILE_SIZE = 1024 * 1024 * 1024;

// Input files are read synchronously: a command reads a few files before it
// can do anything else, and the thread-pool round trips of fs/promises cost
// more than the read of a 16 MiB image.

/**
 * Reads a whole file into one buffer, rejecting one larger than maxBytes
 * before reading it.
 */
export function readInputFile(path: string, description: string, maxBytes = MAX_IMAGE_FILE_SIZE): Buffer {
  let fd: number;
  try {
    fd = openSync(path, "r");
  } catch (error) {
    throw new InputFileError(`cannot read ${description} ${path}: ${systemMessage(error)}`);
  }

  try {
    const { size } = fstatSync(fd);
    if (size > maxBytes) {
      throw new InputFileError(`${description} ${path} is ${size} bytes, larger than the ${maxBytes}-byte limit`);
    }
    return readWhole(fd, size);
  } catch (error) {
    if (error instanceof InputFileError) throw error;
    throw new InputFileError(`cannot read ${description} ${path}: ${systemMessage(error)}`);
  } finally {
    closeSync(fd);
  }
}

/** Reads `size` bytes into one buffer; readFileSync would first read into chunks it then joins. */
function readWhole(fd: number, size: number): Buffer {
  const buffer = Buffer.allocUnsafe(size);
  let filled = 0;
  while (filled < size) {
    const bytesRead = readSync(fd, buffer, filled, size - filled, filled);
    if (bytesRead === 0) break;
    filled += bytesRead;
  }
  return buffer.subarray(0, filled);
}

/** Reads and parses a JSON file, naming the file in every error. */
export function readJsonFile(path: string, description: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    throw new InputFileError(`cannot read ${description} ${path}: ${systemMessage(error)}`);
  }

  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new InputFileError(`${description} ${path} is not valid JSON: ${systemMessage(error)}`);
  }
}

function systemMessage(error: unknown): string {
  if (error instanceof Error && "code" in error && typeof error.code === "string") {
    const reasons: Record<string, string> = {
      ENOENT: "no such file",
      EACCES: "permission denied",
      EISDIR: "it is a directory",
    };
    return reasons[error.code] ?? error.message;
  }
  return error instanceof Error ? error.message : String(error);
}
