import { ReproError } from "./errors.js";

/** Stable codes of every attestation error; tests and callers switch on them. */
export type AttestationErrorCode =
  | "key-invalid"
  | "key-type-unsupported"
  | "key-encrypted"
  | "envelope-invalid"
  | "statement-invalid"
  | "predicate-invalid"
  | "build-record-invalid"
  | "image-not-in-record"
  | "record-measurement-mismatch";

/**
 * A key, envelope, statement or build record that cannot be used. It is
 * always the caller's input that is at fault, so the CLI exits with status 2.
 */
export class AttestationError extends ReproError<AttestationErrorCode> {
  readonly kind = "invalid-input" as const;
}
