import { parseArgs, type ParseArgsConfig } from "node:util";
import { UsageError } from "./usage-error.js";

type StrictConfig = ParseArgsConfig & { args: string[]; strict: true };

/**
 * Parses a subcommand's arguments strictly: an unknown option, a missing
 * value or an unexpected positional argument raises a UsageError that names
 * it and points at --help.
 */
export function parseCommandArgs<T extends StrictConfig>(
  command: string,
  config: T,
): ReturnType<typeof parseArgs<T>> {
  try {
    return parseArgs(config);
  } catch (error) {
    const detail = error instanceof Error ? error.message : String(error);
    if ((error as { code?: string }).code === "ERR_PARSE_ARGS_UNKNOWN_OPTION") {
      // Node's own hint after the first sentence ends in an unbalanced quote.
      const option = detail.split(". ")[0]!.replace(/^Unknown option/, "unknown option");
      throw new UsageError(
        `${command}: ${option} (see 'migtd-repro ${command} --help'; a value that starts with '-' goes after '--')`,
      );
    }
    throw new UsageError(
      `${command}: ${firstLine(detail)} (see 'migtd-repro ${command} --help')`,
    );
  }
}

function firstLine(text: string): string {
  return text.split("\n")[0]!.replace(/\.$/, "");
}
