import { AttestationError } from "./attestation-error.js";
import type { BuildRecord, RecordMeasurementValue } from "./build-record.js";
import type { ImageHashesHex } from "./hash-image.js";
import { isObject } from "./statement.js";

/**
 * The two predicates this project defines (type URIs in uris.ts, fields
 * documented in docs/attestation.md). Parsers are written by hand, not with
 * zod, because `verify` must start fast and zod takes longer to load than
 * the rest of the command.
 */

/** Manifest fields of servtd_info.json, lowercase hex. */
export interface ServtdInfoFields {
  attributes: string;
  xfam: string;
  mrconfigid: string;
  mrowner: string;
  mrownerconfig: string;
}

/** TD measurement predicate: the values and the parameters they depend on. */
export interface TdMeasurementPredicate extends ImageHashesHex {
  /** MRTD page order: "single-pass" (KVM, upstream) or "two-pass". */
  pageOrder: "single-pass" | "two-pass";
  servtdInfo: ServtdInfoFields;
  /** SERVTD_ATTR, a u64 as 0x-prefixed lowercase hex. */
  servtdAttr: string;
  /** SERVTD type in SERVTD_HASH; MigTD is 0. */
  servtdType: 0;
  policyV2: boolean;
  testDisableRaAndAcceptAll: boolean;
}

/** Reproducibility predicate: independent builds that gave the same bytes. */
export interface ReproducibilityPredicate {
  builds: number;
  identical: true;
  /** Conditions varied between builds, e.g. "hostname", "umask". */
  variations: string[];
  /** SHA-384 of each build's image, in build order; all equal. */
  imageSha384: string[];
  /** Build ID of the recorded build, as in its provenance's invocationId. */
  buildId: string;
}

const HEX48 = /^[0-9a-f]{96}$/;
const HEX8 = /^[0-9a-f]{16}$/;

/** The 48-byte measurement registers and hashes of the predicate. */
export const MEASUREMENT_FIELDS = [
  "mrtd",
  "rtmr0",
  "rtmr1",
  "rtmr2",
  "rtmr3",
  "servtdInfoHash",
  "servtdHash",
] as const;

export function tdMeasurementPredicate(
  measurement: RecordMeasurementValue,
): TdMeasurementPredicate {
  return {
    pageOrder: measurement.pageOrder,
    servtdInfo: { ...measurement.servtdInfo },
    servtdAttr: measurement.servtdAttr,
    servtdType: 0,
    policyV2: measurement.policyV2,
    testDisableRaAndAcceptAll: measurement.testDisableRaAndAcceptAll,
    mrtd: measurement.mrtd,
    rtmr0: measurement.rtmr0,
    rtmr1: measurement.rtmr1,
    rtmr2: measurement.rtmr2,
    rtmr3: measurement.rtmr3,
    servtdInfoHash: measurement.servtdInfoHash,
    servtdHash: measurement.servtdHash,
  };
}

/**
 * Returns the reproducibility predicate of a build record, or undefined when
 * there is nothing to attest: a single build, or builds that differed.
 */
export function reproducibilityPredicate(
  record: BuildRecord,
): ReproducibilityPredicate | undefined {
  const { builds, identical, variations, imageSha384 } = record.reproducibility;
  if (builds < 2 || !identical) return undefined;
  return {
    builds,
    identical: true,
    variations: [...variations],
    imageSha384: [...imageSha384],
    buildId: record.buildId,
  };
}

export function parseTdMeasurementPredicate(
  value: unknown,
  where: string,
): TdMeasurementPredicate {
  const fields = requireObject(value, `${where} predicate`);
  const at = (name: string) => `${where} predicate field '${name}'`;

  const pageOrder = fields.pageOrder;
  if (pageOrder !== "single-pass" && pageOrder !== "two-pass") {
    throw invalid(`${at("pageOrder")} is ${JSON.stringify(pageOrder)}; expected "single-pass" or "two-pass"`);
  }
  if (fields.servtdType !== 0) {
    throw invalid(`${at("servtdType")} is ${JSON.stringify(fields.servtdType)}; only MigTD (0) is supported`);
  }
  const servtdAttr = requireString(fields.servtdAttr, /^0x[0-9a-f]{1,16}$/, at("servtdAttr"), "0x-prefixed hex u64");

  const info = requireObject(fields.servtdInfo, at("servtdInfo"));
  const servtdInfo: ServtdInfoFields = {
    attributes: requireString(info.attributes, HEX8, at("servtdInfo.attributes"), "16 hex digits"),
    xfam: requireString(info.xfam, HEX8, at("servtdInfo.xfam"), "16 hex digits"),
    mrconfigid: requireString(info.mrconfigid, HEX48, at("servtdInfo.mrconfigid"), "96 hex digits"),
    mrowner: requireString(info.mrowner, HEX48, at("servtdInfo.mrowner"), "96 hex digits"),
    mrownerconfig: requireString(info.mrownerconfig, HEX48, at("servtdInfo.mrownerconfig"), "96 hex digits"),
  };

  const hex = (name: (typeof MEASUREMENT_FIELDS)[number]) =>
    requireString(fields[name], HEX48, at(name), "96 lowercase hex digits");

  return {
    pageOrder,
    servtdInfo,
    servtdAttr,
    servtdType: 0,
    policyV2: requireBoolean(fields.policyV2, at("policyV2")),
    testDisableRaAndAcceptAll: requireBoolean(fields.testDisableRaAndAcceptAll, at("testDisableRaAndAcceptAll")),
    mrtd: hex("mrtd"),
    rtmr0: hex("rtmr0"),
    rtmr1: hex("rtmr1"),
    rtmr2: hex("rtmr2"),
    rtmr3: hex("rtmr3"),
    servtdInfoHash: hex("servtdInfoHash"),
    servtdHash: hex("servtdHash"),
  };
}

export function parseReproducibilityPredicate(
  value: unknown,
  where: string,
): ReproducibilityPredicate {
  const fields = requireObject(value, `${where} predicate`);
  const at = (name: string) => `${where} predicate field '${name}'`;

  const builds = fields.builds;
  if (typeof builds !== "number" || !Number.isInteger(builds) || builds < 2) {
    throw invalid(`${at("builds")} is ${JSON.stringify(builds)}; expected an integer of at least 2`);
  }
  if (fields.identical !== true) {
    throw invalid(`${at("identical")} is ${JSON.stringify(fields.identical)}; only identical builds are attested`);
  }

  const variations = requireArray(fields.variations, at("variations")).map((item, index) =>
    requireString(item, /^.+$/, `${at("variations")}[${index}]`, "a non-empty string"),
  );
  const imageSha384 = requireArray(fields.imageSha384, at("imageSha384")).map((item, index) =>
    requireString(item, HEX48, `${at("imageSha384")}[${index}]`, "96 hex digits"),
  );
  if (imageSha384.length !== builds) {
    throw invalid(`${at("imageSha384")} has ${imageSha384.length} entries for ${builds} builds`);
  }
  const buildId = requireString(fields.buildId, /^.+$/, at("buildId"), "a non-empty string");

  return { builds, identical: true, variations, imageSha384, buildId };
}

function requireObject(value: unknown, where: string): Record<string, unknown> {
  if (!isObject(value)) throw invalid(`${where} is not a JSON object`);
  return value;
}

function requireArray(value: unknown, where: string): unknown[] {
  if (!Array.isArray(value)) throw invalid(`${where} is not a JSON array`);
  return value;
}

function requireString(value: unknown, pattern: RegExp, where: string, expected: string): string {
  if (typeof value !== "string" || !pattern.test(value)) {
    throw invalid(`${where} is ${JSON.stringify(value) ?? "missing"}; expected ${expected}`);
  }
  return value;
}

function requireBoolean(value: unknown, where: string): boolean {
  if (typeof value !== "boolean") {
    throw invalid(`${where} is ${JSON.stringify(value) ?? "missing"}; expected true or false`);
  }
  return value;
}

function invalid(message: string): AttestationError {
  return new AttestationError("predicate-invalid", message);
}
