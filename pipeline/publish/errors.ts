import { ReproError, type ErrorKind } from "../../attest/errors.js";

/** Stable codes of the GitHub release errors, with the exit kind of each. */
const KIND_BY_CODE = {
  "repository-invalid": "invalid-input",
  "api-url-invalid": "invalid-input",
  "folder-invalid": "invalid-input",
  "repository-not-found": "invalid-input",
  "release-not-found": "invalid-input",
  "asset-not-found": "invalid-input",
  "release-immutable": "invalid-input",
  "token-missing": "environment",
  "token-rejected": "environment",
  "permission-denied": "environment",
  "rate-limited": "environment",
  "server-error": "environment",
  network: "environment",
  "unexpected-response": "environment",
  "folder-unverified": "check-failed",
  "asset-conflict": "check-failed",
  "digest-mismatch": "check-failed",
} as const satisfies Record<string, ErrorKind>;

export type PublishErrorCode = keyof typeof KIND_BY_CODE;

/** An error while publishing to or downloading from a GitHub release. */
export class PublishError extends ReproError<PublishErrorCode> {
  readonly kind: ErrorKind;

  constructor(
    code: PublishErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(code, message, options);
    this.kind = KIND_BY_CODE[code];
  }
}
