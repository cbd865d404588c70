import { AttestationError } from "./attestation-error.js";
import type { BuildRecord, RecordOutputValue } from "./build-record.js";
import { signEnvelope } from "./dsse.js";
import type { SigningKey } from "./keys.js";
import { reproducibilityPredicate, tdMeasurementPredicate } from "./predicates.js";
import { provenancePredicate } from "./provenance.js";
import { imageSubject, makeStatement, type Statement } from "./statement.js";
import {
  IN_TOTO_PAYLOAD_TYPE,
  REPRODUCIBILITY_PREDICATE,
  SLSA_PROVENANCE_PREDICATE,
  TD_MEASUREMENT_PREDICATE,
} from "./uris.js";

export interface AttestationOptions {
  /** runDetails.builder.id of the provenance; a local builder when absent. */
  builderId?: string;
}

/**
 * Returns the statements about a build's image: SLSA provenance, the TD
 * measurements and, when repeated builds were identical, reproducibility.
 * `digests` are those of the image file being attested; they must equal
 * the record's, so a record is never used to vouch for other bytes.
 */
export function attestationStatements(
  record: BuildRecord,
  digests: { sha256: string; sha384: string },
  options: AttestationOptions = {},
): Statement[] {
  const output = imageOutput(record);
  if (output.sha256 !== digests.sha256 || output.sha384 !== digests.sha384) {
    throw new AttestationError(
      "image-not-in-record",
      `the image has sha384 ${digests.sha384}, but the build record's image '${output.name}' has sha384 ${output.sha384}; give the image this record describes`,
    );
  }

  const subject = [imageSubject(output.name, digests)];
  const statements: Statement[] = [
    makeStatement(subject, SLSA_PROVENANCE_PREDICATE, provenancePredicate(record, options)),
    makeStatement(subject, TD_MEASUREMENT_PREDICATE, tdMeasurementPredicate(record.measurement)),
  ];

  const reproducibility = reproducibilityPredicate(record);
  if (reproducibility !== undefined) {
    statements.push(makeStatement(subject, REPRODUCIBILITY_PREDICATE, reproducibility));
  }
  return statements;
}

/** Signs each statement into one DSSE envelope and returns the JSON Lines text. */
export function signStatements(
  statements: readonly Statement[],
  keys: readonly SigningKey[],
): string {
  return statements
    .map((statement) => {
      const payload = Buffer.from(JSON.stringify(statement), "utf8");
      return `${JSON.stringify(signEnvelope(payload, IN_TOTO_PAYLOAD_TYPE, keys))}\n`;
    })
    .join("");
}

/** Returns the output the record marks as the measured firmware image. */
export function imageOutput(record: BuildRecord): RecordOutputValue {
  const images = record.outputs.filter((output) => output.image);
  if (images.length !== 1) {
    throw new AttestationError(
      "build-record-invalid",
      `the build record lists ${images.length} outputs marked as the image; expected exactly 1`,
    );
  }
  return images[0]!;
}
