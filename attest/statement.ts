import { AttestationError } from "./attestation-error.js";
import { STATEMENT_TYPE } from "./uris.js";

/**
 * in-toto Statement v1 (github.com/in-toto/attestation, spec/v1): the
 * subjects an attestation is about, and one typed predicate about them.
 * Field names are fixed by that specification.
 */

/** A ResourceDescriptor naming an artifact by digest. */
export interface Subject {
  name: string;
  digest: Record<string, string>;
}

export interface Statement<Predicate = unknown> {
  _type: typeof STATEMENT_TYPE;
  subject: Subject[];
  predicateType: string;
  predicate: Predicate;
}

/** Returns the firmware image as a subject, named by its SHA-256 and SHA-384. */
export function imageSubject(
  name: string,
  digests: { sha256: string; sha384: string },
): Subject {
  return { name, digest: { sha256: digests.sha256, sha384: digests.sha384 } };
}

export function makeStatement<Predicate>(
  subject: Subject[],
  predicateType: string,
  predicate: Predicate,
): Statement<Predicate> {
  return { _type: STATEMENT_TYPE, subject, predicateType, predicate };
}

/**
 * Parses a DSSE payload as a Statement v1. Only the statement layer is
 * checked here; the predicate is checked by its own parser.
 */
export function parseStatement(payload: Uint8Array, where: string): Statement {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(payload).toString("utf8"));
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw invalid(`${where} payload is not valid JSON (${reason})`);
  }

  if (!isObject(value)) throw invalid(`${where} payload is not a JSON object`);
  if (value._type !== STATEMENT_TYPE) {
    throw invalid(
      `${where} has statement type ${JSON.stringify(value._type)}; expected '${STATEMENT_TYPE}'`,
    );
  }
  if (typeof value.predicateType !== "string" || value.predicateType === "") {
    throw invalid(`${where} has no 'predicateType' string`);
  }
  if (!isObject(value.predicate)) {
    throw invalid(`${where} has no 'predicate' object`);
  }

  return {
    _type: STATEMENT_TYPE,
    subject: parseSubjects(value.subject, where),
    predicateType: value.predicateType,
    predicate: value.predicate,
  };
}

function parseSubjects(value: unknown, where: string): Subject[] {
  if (!Array.isArray(value) || value.length === 0) {
    throw invalid(`${where} has no 'subject' list; a statement names at least one subject`);
  }

  return value.map((subject, index) => {
    const at = `${where} subject ${index + 1}`;
    if (!isObject(subject) || !isObject(subject.digest)) {
      throw invalid(`${at} has no 'digest' object`);
    }
    const digest: Record<string, string> = {};
    for (const [algorithm, hex] of Object.entries(subject.digest)) {
      if (typeof hex !== "string" || !/^[0-9a-f]+$/i.test(hex)) {
        throw invalid(`${at} digest '${algorithm}' is not a hex string`);
      }
      digest[algorithm] = hex.toLowerCase();
    }
    const name = typeof subject.name === "string" ? subject.name : "";
    return { name, digest };
  });
}

export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function invalid(message: string): AttestationError {
  return new AttestationError("statement-invalid", message);
}
