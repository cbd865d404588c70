import { AttestationError } from "./attestation-error.js";
import { ReproError } from "./errors.js";
import { fileDigests, type FileDigests } from "./hash-image.js";
import type { ImageBytes } from "./image-bytes.js";
import { parseEnvelope, verifyEnvelopeSignatures, type ParsedEnvelope } from "./dsse.js";
import type { PublicKey } from "./keys.js";
import {
  parseReproducibilityPredicate,
  parseTdMeasurementPredicate,
  type ReproducibilityPredicate,
  type ServtdInfoFields,
  type TdMeasurementPredicate,
} from "./predicates.js";
import { parseProvenancePredicate, type ProvenanceSummary } from "./provenance.js";
import { parseServtdInfo } from "./servtd-info.js";
import { measurementDifferences, remeasure } from "./remeasure.js";
import { parseStatement, type Statement } from "./statement.js";
import {
  IN_TOTO_PAYLOAD_TYPE,
  REPRODUCIBILITY_PREDICATE,
  SLSA_PROVENANCE_PREDICATE,
  TD_MEASUREMENT_PREDICATE,
} from "./uris.js";

/** Stable names of the checks, in the order they are reported. */
export type CheckCode =
  | "envelopes"
  | "signatures"
  | "statements"
  | "subject"
  | "measurements"
  | "provenance"
  | "reproducibility"
  | "servtd-info"
  | "expected-servtd-info-hash"
  | "rebuild";

/**
 * One line of the checklist. "skip" is used for a check that was not
 * requested, does not apply, or could not run because an earlier check
 * failed (that earlier failure already fails the verification).
 */
export interface CheckResult {
  code: CheckCode;
  status: "pass" | "fail" | "skip";
  summary: string;
  /** One entry per finding: each bad line, signature or register. */
  details: string[];
}

export interface VerifyInput {
  image: Uint8Array | ImageBytes;
  /** Image file name, for messages. */
  imageName: string;
  /** The attestation file's whole text: one DSSE envelope per line. */
  attestation: string;
  attestationName: string;
  trustedKeys: readonly PublicKey[];
  /** Trusted-key locations, named in the message when there are none. */
  trustedKeysHint?: string;
  /** A servtd_info.json the attested manifest must equal, already parsed. */
  servtdInfo?: { json: unknown; source: string };
  /** Lowercase hex SERVTD_INFO_HASH the image must have. */
  expectServtdInfoHash?: string;
}

export interface VerifyReport {
  verified: boolean;
  image: { name: string; sha256: string; sha384: string };
  checks: CheckResult[];
  /** Provenance of the trusted SLSA statements, for display. */
  provenance: ProvenanceSummary[];
}

/** A statement from an envelope that a trusted key signed. */
interface TrustedStatement {
  where: string;
  statement: Statement;
}

/** Checks that must pass for `verified`; the others pass or are skipped. */
const REQUIRED: readonly CheckCode[] = [
  "envelopes",
  "signatures",
  "statements",
  "subject",
  "measurements",
  "provenance",
];

/**
 * Verifies an image against its attestation: envelopes, signatures,
 * statements, subject digests, recomputed measurements, provenance and the
 * optional expectations.
 */
export function verifyAttestation(input: VerifyInput): VerifyReport {
  const checked = checkAttestation(input);
  return report(input, checked, fileDigests(input.image));
}

/**
 * verifyAttestation with the image's sha256 and sha384 computed elsewhere
 * while this thread checks the rest. The two file digests cost nearly as
 * much as the measurements, so the CLI hashes the file on a worker thread
 * (cli/file-digests.ts) and verify takes little longer than hash.
 */
export async function verifyAttestationWithDigests(
  input: VerifyInput,
  /** Called once the other checks are done. */
  digests: () => Promise<FileDigests>,
): Promise<VerifyReport> {
  const checked = checkAttestation(input);
  return report(input, checked, await digests());
}

/** Runs the checks that do not need the file digests. */
function checkAttestation(input: VerifyInput) {
  const envelopes = checkEnvelopes(input);
  const signatures = checkSignatures(input, envelopes.value);
  const statements = checkStatements(signatures.value);
  const known = statements.value;
  const measurements = checkMeasurements(input.image, known.measurements);
  return { envelopes, signatures, statements, known, measurements };
}

function report(
  input: VerifyInput,
  { envelopes, signatures, statements, known, measurements }: ReturnType<typeof checkAttestation>,
  image: FileDigests,
): VerifyReport {
  const checks = [
    envelopes.check,
    signatures.check,
    statements.check,
    checkSubjects(known.statements, image),
    measurements.check,
    checkProvenance(known),
    checkReproducibility(known.reproducibility),
    checkServtdInfo(input, known.measurements),
    checkExpectedHash(input, measurements.value),
  ];

  return {
    verified: isVerified(checks),
    image: { name: input.imageName, ...image },
    checks,
    provenance: known.provenance,
  };
}

/** True when every required check passed and no check failed. */
export function isVerified(checks: readonly CheckResult[]): boolean {
  const passed = (code: CheckCode) =>
    checks.some((check) => check.code === code && check.status === "pass");
  return REQUIRED.every(passed) && checks.every((check) => check.status !== "fail");
}

interface Outcome<T> {
  check: CheckResult;
  value: T;
}

interface LineEnvelope {
  where: string;
  envelope: ParsedEnvelope;
}

interface KnownStatements {
  statements: TrustedStatement[];
  measurements: { where: string; predicate: TdMeasurementPredicate }[];
  reproducibility: { where: string; predicate: ReproducibilityPredicate; subjects: string[] }[];
  provenance: ProvenanceSummary[];
}

/** Check 1: every line is a DSSE envelope with the in-toto payload type. */
function checkEnvelopes(input: VerifyInput): Outcome<LineEnvelope[]> {
  const lines = input.attestation.split("\n");
  // A file that ends in blank lines is complete, so they are dropped.
  while (lines.length > 0 && lines.at(-1)!.trim() === "") lines.pop();

  const envelopes: LineEnvelope[] = [];
  const details: string[] = [];
  if (lines.length === 0) {
    details.push(`${input.attestationName} is empty; expected one DSSE envelope per line`);
  }

  lines.forEach((line, index) => {
    const where = `${input.attestationName} line ${index + 1}`;
    if (line.trim() === "") {
      details.push(`${where} is empty; expected one DSSE envelope per line`);
      return;
    }
    try {
      const envelope = parseEnvelope(line, where);
      if (envelope.payloadType === IN_TOTO_PAYLOAD_TYPE) {
        envelopes.push({ where, envelope });
      } else {
        details.push(
          `${where} has payload type ${JSON.stringify(envelope.payloadType)}; expected '${IN_TOTO_PAYLOAD_TYPE}'`,
        );
      }
    } catch (error) {
      details.push(messageOf(error));
    }
  });

  const check =
    details.length === 0
      ? pass("envelopes", `${envelopes.length} DSSE envelope(s) with payload type ${IN_TOTO_PAYLOAD_TYPE}`)
      : fail("envelopes", "the attestation has lines that are not in-toto DSSE envelopes", details);
  return { check, value: envelopes };
}

/**
 * Check 2: each envelope has a signature that a trusted key verifies.
 * Signatures by other keys are listed but neither trusted nor fatal. Only
 * when every envelope is trusted are the statements read, so that no
 * unsigned line can add or change a claim.
 */
function checkSignatures(input: VerifyInput, envelopes: LineEnvelope[]): Outcome<LineEnvelope[]> {
  if (input.trustedKeys.length === 0) {
    const hint = input.trustedKeysHint ?? "give --key PUB.pem";
    return { check: fail("signatures", `no trusted public key is configured (${hint})`, []), value: [] };
  }
  if (envelopes.length === 0) {
    return { check: skip("signatures", "skipped: no envelope to check"), value: [] };
  }

  const details: string[] = [];
  const signers = new Set<string>();
  let untrusted = 0;
  for (const { where, envelope } of envelopes) {
    const statuses = verifyEnvelopeSignatures(envelope, input.trustedKeys);
    for (const signature of statuses) {
      const keyid = signature.keyid === "" ? "with no keyid" : signature.keyid;
      if (signature.status === "verified") {
        signers.add(`${signature.key.keyId} (${signature.key.source})`);
      } else if (signature.status === "invalid") {
        details.push(
          `${where}: signature by trusted key ${keyid} (${signature.key.source}) does not verify; the payload or signature was changed after signing`,
        );
      } else {
        details.push(`${where}: signature by key ${keyid} is not from a trusted key; ignored`);
      }
    }

    if (statuses.length === 0) details.push(`${where} has no signatures`);
    if (!statuses.some(({ status }) => status === "verified")) {
      untrusted += 1;
      if (statuses.length > 0) details.push(`${where} has no valid signature by a trusted key`);
    }
  }

  if (untrusted > 0) {
    const summary = `${untrusted} of ${envelopes.length} envelope(s) have no valid signature by a trusted key`;
    return { check: fail("signatures", summary, details), value: [] };
  }
  const summary = `every envelope is signed by a trusted key: ${[...signers].join(", ")}`;
  return { check: { ...pass("signatures", summary), details }, value: envelopes };
}

/** Check 3: statement type and predicate types are known and well formed. */
function checkStatements(envelopes: LineEnvelope[]): Outcome<KnownStatements> {
  const known: KnownStatements = { statements: [], measurements: [], reproducibility: [], provenance: [] };
  if (envelopes.length === 0) {
    return { check: skip("statements", "skipped: no trusted envelope to read"), value: known };
  }

  const details: string[] = [];
  for (const { where, envelope } of envelopes) {
    try {
      const statement = parseStatement(envelope.payload, where);
      readPredicate(where, statement, known);
      known.statements.push({ where, statement });
    } catch (error) {
      details.push(messageOf(error));
    }
  }

  const types = known.statements.map(({ statement }) => statement.predicateType);
  const check =
    details.length === 0
      ? pass("statements", `in-toto Statement v1, predicates: ${types.join(", ")}`)
      : fail("statements", "statements with an unknown or invalid type or predicate", details);
  return { check, value: known };
}

function readPredicate(where: string, statement: Statement, known: KnownStatements): void {
  switch (statement.predicateType) {
    case TD_MEASUREMENT_PREDICATE:
      known.measurements.push({ where, predicate: parseTdMeasurementPredicate(statement.predicate, where) });
      return;
    case REPRODUCIBILITY_PREDICATE:
      known.reproducibility.push({
        where,
        predicate: parseReproducibilityPredicate(statement.predicate, where),
        subjects: statement.subject.flatMap(({ digest }) => digest.sha384 ?? []),
      });
      return;
    case SLSA_PROVENANCE_PREDICATE:
      known.provenance.push(parseProvenancePredicate(statement.predicate, where));
      return;
    default:
      throw new AttestationError(
        "statement-invalid",
        `${where} has unknown predicate type '${statement.predicateType}'`,
      );
  }
}

/** Check 4: every statement names the image by its sha256 and sha384. */
function checkSubjects(
  statements: TrustedStatement[],
  image: { sha256: string; sha384: string },
): CheckResult {
  if (statements.length === 0) return skip("subject", "skipped: no trusted statement to compare");

  const details: string[] = [];
  for (const { where, statement } of statements) {
    const match = statement.subject.some(
      ({ digest }) => digest.sha256 === image.sha256 && digest.sha384 === image.sha384,
    );
    if (match) continue;

    const claimed = statement.subject
      .map(({ name, digest }) => `'${name}' sha256 ${digest.sha256 ?? "(none)"} sha384 ${digest.sha384 ?? "(none)"}`)
      .join("; ");
    details.push(`${where} is about ${claimed}, not this image`);
  }

  const summary = `image sha256 ${image.sha256}, sha384 ${image.sha384}`;
  return details.length === 0
    ? pass("subject", `every statement's subject digests equal the ${summary}`)
    : fail("subject", `subject digests differ from the ${summary}`, details);
}

/** Check 5: measurements recomputed from the image equal the attested ones. */
function checkMeasurements(
  image: Uint8Array | ImageBytes,
  measurements: KnownStatements["measurements"],
): Outcome<string | undefined> {
  if (measurements.length === 0) {
    const summary = `no trusted statement with predicate type ${TD_MEASUREMENT_PREDICATE}`;
    return { check: fail("measurements", summary, []), value: undefined };
  }

  const details: string[] = [];
  let servtdInfoHash: string | undefined;
  for (const { where, predicate } of measurements) {
    try {
      const computed = remeasure(image, predicate);
      servtdInfoHash = computed.servtdInfoHash;
      const differences = measurementDifferences(predicate, computed);
      details.push(...differences.map((difference) => `${where}: ${difference}`));
    } catch (error) {
      details.push(`${where}: the image cannot be measured: ${messageOf(error)}`);
    }
  }

  const first = measurements[0]!.predicate;
  const summary = `MRTD (${first.pageOrder}), RTMR0-3, SERVTD_INFO_HASH and SERVTD_HASH`;
  const check =
    details.length === 0
      ? pass("measurements", `${summary} recomputed from the image match; SERVTD_INFO_HASH ${first.servtdInfoHash}`)
      : fail("measurements", `${summary} recomputed from the image do not match the attestation`, details);
  return { check, value: details.length === 0 ? servtdInfoHash : undefined };
}

/**
 * At least one SLSA Provenance v1 statement says who built the image and
 * how. That its subject is this image is the subject check's finding.
 */
function checkProvenance(known: KnownStatements): CheckResult {
  if (known.statements.length === 0) return skip("provenance", "skipped: no trusted statement to read");
  if (known.provenance.length === 0) {
    return fail(
      "provenance",
      `no trusted statement with predicate type ${SLSA_PROVENANCE_PREDICATE}, so nothing says who built the image or how`,
      [],
    );
  }

  const builders = [...new Set(known.provenance.map(({ builderId }) => builderId))];
  return pass("provenance", `SLSA Provenance v1 by ${builders.join(", ")}`);
}

/**
 * Repeated builds, when attested, all produced the statement's subject.
 * Whether that subject is this image is the subject check's finding.
 */
function checkReproducibility(statements: KnownStatements["reproducibility"]): CheckResult {
  if (statements.length === 0) {
    return skip("reproducibility", "not attested by a trusted key: the build was not repeated, its repeats differed, or no trusted key signed the statement");
  }

  const details: string[] = [];
  for (const { where, predicate, subjects } of statements) {
    predicate.imageSha384.forEach((digest, index) => {
      if (!subjects.includes(digest)) {
        details.push(`${where}: build ${index + 1} gave sha384 ${digest}, not the subject's`);
      }
    });
  }

  const { builds, variations } = statements[0]!.predicate;
  const varied = variations.length === 0 ? "no variations" : `varying ${variations.join(", ")}`;
  return details.length === 0
    ? pass("reproducibility", `${builds} builds (${varied}) gave identical images`)
    : fail("reproducibility", "the attested builds gave images other than the subject", details);
}

/** --servtd-info: the attested manifest equals the given file. */
function checkServtdInfo(
  input: VerifyInput,
  measurements: KnownStatements["measurements"],
): CheckResult {
  if (input.servtdInfo === undefined) return skip("servtd-info", "not requested (--servtd-info)");
  if (measurements.length === 0) return skip("servtd-info", "skipped: no trusted TD measurement statement");

  const expected = normalizeServtdInfo(input.servtdInfo.json, input.servtdInfo.source);
  const details: string[] = [];
  for (const { where, predicate } of measurements) {
    for (const field of Object.keys(expected) as (keyof ServtdInfoFields)[]) {
      if (predicate.servtdInfo[field] !== expected[field]) {
        details.push(`${where}: servtdInfo.${field} attested ${predicate.servtdInfo[field]}, ${input.servtdInfo.source} has ${expected[field]}`);
      }
    }
  }
  return details.length === 0
    ? pass("servtd-info", `the attested servtd_info manifest equals ${input.servtdInfo.source}`)
    : fail("servtd-info", `the attested servtd_info manifest differs from ${input.servtdInfo.source}`, details);
}

function normalizeServtdInfo(json: unknown, source: string): ServtdInfoFields {
  const info = parseServtdInfo(json, source);
  return {
    attributes: info.attributes.toString("hex"),
    xfam: info.xfam.toString("hex"),
    mrconfigid: info.mrconfigid.toString("hex"),
    mrowner: info.mrowner.toString("hex"),
    mrownerconfig: info.mrownerconfig.toString("hex"),
  };
}

/** Check 6: --expect-servtd-info-hash equals the recomputed value. */
function checkExpectedHash(input: VerifyInput, servtdInfoHash: string | undefined): CheckResult {
  const expected = input.expectServtdInfoHash;
  if (expected === undefined) {
    return skip("expected-servtd-info-hash", "not requested (--expect-servtd-info-hash)");
  }
  if (servtdInfoHash === undefined) {
    return fail("expected-servtd-info-hash", "no verified SERVTD_INFO_HASH to compare", []);
  }
  return servtdInfoHash === expected
    ? pass("expected-servtd-info-hash", `SERVTD_INFO_HASH equals the expected ${expected}`)
    : fail("expected-servtd-info-hash", `SERVTD_INFO_HASH is ${servtdInfoHash}, expected ${expected}`, []);
}

export function pass(code: CheckCode, summary: string): CheckResult {
  return { code, status: "pass", summary, details: [] };
}

export function fail(code: CheckCode, summary: string, details: string[]): CheckResult {
  return { code, status: "fail", summary, details };
}

export function skip(code: CheckCode, summary: string): CheckResult {
  return { code, status: "skip", summary, details: [] };
}

/** Returns the message of an input error; anything else is a bug and is rethrown. */
function messageOf(error: unknown): string {
  if (error instanceof ReproError) return error.message;
  throw error;
}
