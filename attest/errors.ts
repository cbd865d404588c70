/**
 * What went wrong, in the terms the CLI maps to an exit status:
 * - `invalid-input`: a file, option or value the user gave is not acceptable;
 * - `check-failed`: the input is well formed but a comparison did not hold;
 * - `environment`: something outside the input is missing or unreachable
 *   (no Docker engine, no network, a tool not installed);
 * - `build-failed`: a firmware build ran and did not produce a usable result;
 * - `interrupted`: SIGINT or SIGTERM stopped the work.
 */
export type ErrorKind =
  | "invalid-input"
  | "check-failed"
  | "environment"
  | "build-failed"
  | "interrupted";

/**
 * Base of every error this project raises on purpose. Each domain subclasses
 * it with a string-literal union of stable codes that callers and tests
 * switch on. The message is one line that names the bad value and the fix.
 */
export abstract class ReproError<Code extends string = string> extends Error {
  abstract readonly kind: ErrorKind;

  constructor(
    readonly code: Code,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = new.target.name;
  }
}
