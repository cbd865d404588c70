import { createRequire } from "node:module";
import { MeasureError } from "./measure-error.js";

/** The configurable TD_INFO fields of a service TD (upstream config/servtd_info.json). */
export interface ServtdInfo {
  attributes: Buffer;
  xfam: Buffer;
  mrconfigid: Buffer;
  mrowner: Buffer;
  mrownerconfig: Buffer;
}

export type ServtdInfoField = keyof ServtdInfo;

/** Field sizes in bytes (TDX module ABI, TD_INFO). */
export const SERVTD_INFO_FIELD_SIZES: Record<ServtdInfoField, number> = {
  attributes: 8,
  xfam: 8,
  mrconfigid: 48,
  mrowner: 48,
  mrownerconfig: 48,
};

const FIELDS = Object.keys(SERVTD_INFO_FIELD_SIZES) as ServtdInfoField[];

/** Upstream MigTD's config/servtd_info.json at v0.7.1. */
export const UPSTREAM_DEFAULT_SERVTD_INFO: ServtdInfo = {
  attributes: Buffer.alloc(8),
  xfam: Buffer.from("e71a060000000000", "hex"),
  mrconfigid: Buffer.alloc(48),
  mrowner: Buffer.alloc(48),
  mrownerconfig: Buffer.alloc(48),
};

/**
 * Validates a parsed servtd_info.json: each of the five fields present as a
 * hex string of exactly twice its byte size. Like upstream's serde parser
 * (hex::serde into fixed arrays), upper and lower case are accepted and
 * other keys are ignored. Throws MeasureError naming the field and length.
 */
export function parseServtdInfo(json: unknown, source: string): ServtdInfo {
  // The zod schema decides every rejection and words the message. A valid
  // file, the usual case, is decoded without loading zod, because importing
  // zod takes longer than hashing a whole MigTD image. A property test checks
  // that both paths accept exactly the same inputs.
  return decodeWellFormed(json) ?? parseWithSchema(json, source);
}

export function servtdInfoToJson(info: ServtdInfo): Record<ServtdInfoField, string> {
  const entries = FIELDS.map((field) => [field, info[field].toString("hex")]);
  return Object.fromEntries(entries) as Record<ServtdInfoField, string>;
}

const HEX = /^[0-9a-fA-F]*$/;

/** Decodes the input if every field is a hex string of the exact length, else null. */
export function decodeWellFormed(json: unknown): ServtdInfo | null {
  if (typeof json !== "object" || json === null || Array.isArray(json)) return null;

  const record = json as Record<string, unknown>;
  const info: Partial<ServtdInfo> = {};
  for (const field of FIELDS) {
    const value = record[field];
    if (typeof value !== "string") return null;
    if (value.length !== SERVTD_INFO_FIELD_SIZES[field] * 2 || !HEX.test(value)) return null;
    info[field] = Buffer.from(value, "hex");
  }
  return info as ServtdInfo;
}

type Zod = typeof import("zod");

/** Validates with the zod schema; used for every input the fast path does not accept. */
function lengthOf(input: unknown): number {
  return typeof input === "string" || Array.isArray(input) ? input.length : 0;
}

export function parseWithSchema(json: unknown, source: string): ServtdInfo {
  // zod is loaded through require so this function stays synchronous.
  const { z } = createRequire(import.meta.url)("zod") as Zod;
  const hexField = (field: ServtdInfoField) => {
    const size = SERVTD_INFO_FIELD_SIZES[field];
    return z
      .string({ error: `must be a string of ${size * 2} hex digits (${size} bytes)` })
      // zod also runs this check on arrays, whose elements String() may fail to convert.
      .length(size * 2, { error: (issue) => `must be ${size * 2} hex digits (${size} bytes), got ${lengthOf(issue.input)}` })
      .regex(HEX, { error: `must contain only hex digits 0-9, a-f or A-F (${size} bytes)` })
      .transform((text) => Buffer.from(text, "hex"));
  };

  const schema = z.object(
    Object.fromEntries(FIELDS.map((field) => [field, hexField(field)])) as Record<ServtdInfoField, ReturnType<typeof hexField>>,
    { error: "must be a JSON object with attributes, xfam, mrconfigid, mrowner and mrownerconfig" },
  );

  const result = schema.safeParse(json);
  if (result.success) return result.data as ServtdInfo;

  const issue = result.error.issues[0]!;
  const key = issue.path[0];
  if (key === undefined) throw new MeasureError("servtd-info-invalid", `${source}: content ${issue.message}`);

  const missing = !Object.hasOwn(json as object, key);
  const field = `field '${String(key)}'`;
  const message = missing ? `is missing; it ${issue.message}` : issue.message;
  throw new MeasureError("servtd-info-invalid", `${source}: ${field} ${message}`);
}
