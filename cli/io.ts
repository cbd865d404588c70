import { closeSync, constants, fstatSync, openSync, readSync, type Stats } from "node:fs";
import { ReproError } from "../attest/errors.js";
import type { ImageFile } from "../attest/image-bytes.js";

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

/**
 * Limit for JSON and text inputs: build records, servtd_info files, TCB
 * mappings, attestations and keys, which are usually a few KiB.
 */
export const MAX_TEXT_FILE_SIZE = 16 * 1024 * 1024;

// Input files are read synchronously: a command reads a few files before it
// can do anything else, and the thread-pool round trips of fs/promises cost
// more than the read of a 16 MiB image.

/**
 * Reads a whole regular file into one buffer, rejecting one larger than
 * maxBytes before reading it. Devices, FIFOs and folders are rejected: their
 * size is unknown, so /dev/zero would fill memory and a FIFO could block.
 */
export function readInputFile(path: string, description: string, maxBytes = MAX_IMAGE_FILE_SIZE): Buffer {
  const file = openInputFile(path, description, maxBytes);
  try {
    const buffer = Buffer.allocUnsafe(file.size);
    file.readInto(buffer, 0);
    file.checkUnchanged();
    return buffer;
  } finally {
    file.close();
  }
}

/**
 * A regular input file, open for reads at any offset (ImageBytes.fromFile
 * reads an image this way, a part at a time). Close it when done.
 */
export interface OpenInputFile extends ImageFile {
  readonly fd: number;
  readonly stats: Stats;
  /**
   * Throws an InputFileError if the file's size or times changed since it
   * was opened.
   * NOTE: Linux updates the times on the first write through a shared
   * memory mapping of a page, not on later writes to that page, so a
   * writer that keeps such a mapping can change the file unseen.
   */
  checkUnchanged(): void;
  close(): void;
}

/** Opens a regular file of at most maxBytes, with the checks and messages of readInputFile. */
export function openInputFile(path: string, description: string, maxBytes = MAX_IMAGE_FILE_SIZE): OpenInputFile {
  let fd: number;
  try {
    // O_NONBLOCK so that opening a FIFO with no writer returns at once; it
    // does not change reads from a regular file.
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (error) {
    throw new InputFileError(`cannot read ${description} ${path}: ${systemMessage(error)}`);
  }

  let stats: Stats;
  try {
    stats = fstatSync(fd);
    if (!stats.isFile()) {
      throw new InputFileError(`${description} ${path} is ${fileType(stats)}, not a regular file; give a file`);
    }
    if (stats.size > maxBytes) {
      throw new InputFileError(
        `${description} ${path} is ${stats.size} bytes, larger than the limit of ${formatLimit(maxBytes)}`,
      );
    }
  } catch (error) {
    closeSync(fd);
    if (error instanceof InputFileError) throw error;
    throw new InputFileError(`cannot read ${description} ${path}: ${systemMessage(error)}`);
  }

  const opened = stats;
  const changed = () =>
    new InputFileError(`${description} ${path} changed while it was read; read it again when nothing writes to it`);
  return {
    fd,
    stats,
    size: stats.size,
    readInto(target: Uint8Array, offset: number): void {
      let filled = 0;
      while (filled < target.length) {
        let bytesRead: number;
        try {
          bytesRead = readSync(fd, target, filled, target.length - filled, offset + filled);
        } catch (error) {
          throw new InputFileError(`cannot read ${description} ${path}: ${systemMessage(error)}`);
        }
        if (bytesRead === 0) throw changed();
        filled += bytesRead;
      }
    },
    checkUnchanged(): void {
      const now = fstatSync(fd);
      if (now.size !== opened.size || now.mtimeMs !== opened.mtimeMs || now.ctimeMs !== opened.ctimeMs) throw changed();
    },
    close(): void {
      closeSync(fd);
    },
  };
}

function fileType(stats: Stats): string {
  if (stats.isDirectory()) return "a folder";
  if (stats.isFIFO()) return "a FIFO";
  if (stats.isCharacterDevice()) return "a character device";
  if (stats.isBlockDevice()) return "a block device";
  if (stats.isSocket()) return "a socket";
  return "not a file";
}

/** Formats a byte limit as "16 MiB" when it is whole MiB, else as "N bytes". */
function formatLimit(bytes: number): string {
  const mebibyte = 1024 * 1024;
  return bytes % mebibyte === 0 ? `${bytes / mebibyte} MiB` : `${bytes} bytes`;
}

/** Reads and parses a JSON file of at most MAX_TEXT_FILE_SIZE bytes, naming the file in every error. */
export function readJsonFile(path: string, description: string): unknown {
  const text = readInputFile(path, description, MAX_TEXT_FILE_SIZE).toString("utf8");
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
