import { createHash } from "node:crypto";
import { SHA384_SIZE } from "./rtmr.js";

/**
 * TD_INFO as hashed into SERVTD_INFO_HASH (TDX module ABI; td-shim
 * tee_info_hash.rs TdInfoStruct::pack): the fields below in this order,
 * then 112 reserved zero bytes, 512 bytes in all.
 */
export interface TdInfoFields {
  attributes: Buffer;
  xfam: Buffer;
  mrtd: Buffer;
  mrconfigid: Buffer;
  mrowner: Buffer;
  mrownerconfig: Buffer;
  rtmr0: Buffer;
  rtmr1: Buffer;
  rtmr2: Buffer;
  rtmr3: Buffer;
}

type TdInfoField = keyof TdInfoFields;

const TD_INFO_LAYOUT: readonly [TdInfoField, number][] = [
  ["attributes", 8],
  ["xfam", 8],
  ["mrtd", SHA384_SIZE],
  ["mrconfigid", SHA384_SIZE],
  ["mrowner", SHA384_SIZE],
  ["mrownerconfig", SHA384_SIZE],
  ["rtmr0", SHA384_SIZE],
  ["rtmr1", SHA384_SIZE],
  ["rtmr2", SHA384_SIZE],
  ["rtmr3", SHA384_SIZE],
];
export const TD_INFO_SIZE = 512;

/** SERVTD_TYPE of MigTD (MigTD tools/migtd-hash: SERVTD_TYPE_MIGTD). */
export const SERVTD_TYPE_MIGTD = 0;

/**
 * SERVTD_ATTR bits 32..41 tell the TDX module to ignore one TD_INFO field
 * each, in TD_INFO order starting with attributes (migtd-hash
 * SERVTD_ATTR_IGNORE_*). An ignored field is zeroed before hashing.
 */
const SERVTD_ATTR_IGNORE_FIRST_BIT = 32n;

export function packTdInfo(fields: TdInfoFields): Buffer {
  const packed = Buffer.alloc(TD_INFO_SIZE);
  let offset = 0;
  for (const [field, size] of TD_INFO_LAYOUT) {
    if (fields[field].length !== size) {
      throw new RangeError(`TD_INFO ${field} must be ${size} bytes, got ${fields[field].length}`);
    }
    fields[field].copy(packed, offset);
    offset += size;
  }
  return packed;
}

/** Returns a copy of the fields with those SERVTD_ATTR ignores set to zero. */
export function maskTdInfo(fields: TdInfoFields, servtdAttr: bigint): TdInfoFields {
  const masked = { ...fields };
  TD_INFO_LAYOUT.forEach(([field, size], index) => {
    const bit = 1n << (SERVTD_ATTR_IGNORE_FIRST_BIT + BigInt(index));
    if ((servtdAttr & bit) !== 0n) masked[field] = Buffer.alloc(size);
  });
  return masked;
}

/** SERVTD_HASH = SHA384(SERVTD_INFO_HASH || u16 LE servtd type || u64 LE SERVTD_ATTR). */
export function computeServtdHash(
  servtdInfoHash: Buffer,
  servtdAttr: bigint,
  servtdType = SERVTD_TYPE_MIGTD,
): Buffer {
  const suffix = Buffer.alloc(10);
  suffix.writeUInt16LE(servtdType, 0);
  suffix.writeBigUInt64LE(servtdAttr, 2);
  return createHash("sha384").update(servtdInfoHash).update(suffix).digest();
}
