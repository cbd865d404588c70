import { ReproError } from "../attest/errors.js";

export type UsageErrorCode = "usage";

/** A command line that cannot be acted on: unknown option, missing value. */
export class UsageError extends ReproError<UsageErrorCode> {
  readonly kind = "invalid-input" as const;

  constructor(message: string) {
    super("usage", message);
  }
}
