import { open, readFile } from "node:fs/promises";
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

/** Reads a whole file, rejecting one larger than maxBytes before reading it. */
export async function readInputFile(
  path: string,
  description: string,
  maxBytes = MAX_IMAGE_FILE_SIZE,
): Promise<Buffer> {
  try {
    const handle = await open(path, "r");
    try {
      const { size } = await handle.stat();
      if (size > maxBytes) {
        throw new InputFileError(`${description} ${path} is ${size} bytes, larger than the ${maxBytes}-byte limit`);
      }
      return await handle.readFile();
    } finally {
      await handle.close();
    }
  } catch (error) {
    if (error instanceof InputFileError) throw error;
    throw new InputFileError(`cannot read ${description} ${path}: ${systemMessage(error)}`);
  }
}

/** Reads and parses a JSON file, naming the file in every error. */
export async function readJsonFile(path: string, description: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
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
