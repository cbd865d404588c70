import { ReproError, type ErrorKind } from "../attest/errors.js";

/** Stable codes of the build pipeline's errors, with the exit kind of each. */
const KIND_BY_CODE = {
  "engine-unreachable": "environment",
  "tool-missing": "environment",
  "source-fetch-failed": "environment",
  "image-missing": "environment",
  "builder-packages-differ": "environment",
  "recipe-not-found": "invalid-input",
  "recipe-invalid": "invalid-input",
  "input-invalid": "invalid-input",
  "source-invalid": "invalid-input",
  "out-invalid": "invalid-input",
  unpinned: "invalid-input",
  "pin-mismatch": "invalid-input",
  "image-build-failed": "build-failed",
  "container-rejected": "build-failed",
  "command-failed": "build-failed",
  timeout: "build-failed",
  "out-of-memory": "build-failed",
  "output-missing": "build-failed",
  "output-rejected": "build-failed",
  interrupted: "interrupted",
  "not-reproducible": "check-failed",
} as const satisfies Record<string, ErrorKind>;

export type BuildErrorCode = keyof typeof KIND_BY_CODE;

/** An error of the build pipeline: engine, recipe, source, container, outputs. */
export class BuildError extends ReproError<BuildErrorCode> {
  readonly kind: ErrorKind;

  constructor(
    code: BuildErrorCode,
    message: string,
    options?: { cause?: unknown; logTail?: string[]; exitCode?: number },
  ) {
    super(code, message, options);
    this.kind = KIND_BY_CODE[code];
    this.logTail = options?.logTail ?? [];
    this.exitCode = options?.exitCode;
  }

  /** Last lines of the build output, for build-failed errors. */
  readonly logTail: string[];

  /** Exit code of the build command, when it ran to an exit. */
  readonly exitCode: number | undefined;
}
