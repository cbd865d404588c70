import { parseArgs, type ParseArgsOptionsConfig } from "node:util";
import { UsageError } from "./usage-error.js";

/**
 * Parses a subcommand's arguments strictly: an unknown option, a missing
 * value or an unexpected positional argument raises a UsageError that names
 * it and points at --help.
 */
export function parseCommandArgs<T extends ParseArgsOptionsConfig>(
  command: string,
  argv: string[],
  options: T,
  allowPositionals = false,
) {
  try {
    return parseArgs({
      args: argv,
      options,
      allowPositionals,
      strict: true,
    });
  } catch (error) {
    const detail = error instanceof Error ? error.message : String(error);
    throw new UsageError(
      `${command}: ${firstLine(detail)} (see 'migtd-repro ${command} --help')`,
    );
  }
}

function firstLine(text: string): string {
  return text.split("\n")[0]!.replace(/\.$/, "");
}
