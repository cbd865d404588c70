import { ByteReader } from "./byte-reader.js";
import { bytesToGuid, GUID_SIZE } from "./guid.js";
import { ImageBytes } from "./image-bytes.js";
import { hex, MeasureError } from "./measure-error.js";
import { SECTION_TYPE, type TdMetadata, type TdvfSection } from "./td-metadata.js";

// EFI_FIRMWARE_VOLUME_HEADER (UEFI PI specification, volume 3, 3.2.1):
// ZeroVector[16] (0), FileSystemGuid (16), FvLength u64 (32),
// Signature '_FVH' (40), Attributes u32 (44), HeaderLength u16 (48),
// Checksum u16 (50), ExtHeaderOffset u16 (52), Reserved u8 (54),
// Revision u8 (55). The 16-bit sum of these 56 bytes is zero.
export const FV_HEADER = {
  size: 56,
  zeroVector: 0,
  fileSystemGuid: 16,
  length: 32,
  signature: 40,
  attributes: 44,
  headerLength: 48,
  checksum: 50,
  extHeaderOffset: 52,
  revision: 55,
} as const;
export const FV_SIGNATURE = 0x4856465f; // '_FVH' read as u32 LE
export const FV_REVISION = 2;

// EFI_FFS_FILE_HEADER (UEFI PI specification, volume 3, 2.2.3): Name GUID
// (0), IntegrityCheck.Header u8 (16), IntegrityCheck.File u8 (17), Type u8
// (18), Attributes u8 (19), Size u24 (20, header included), State u8 (23).
// With FFS_ATTRIB_LARGE_FILE, a u32 ExtendedSize follows at 24 and the
// header is 28 bytes. Files start 8-byte aligned.
export const FFS_HEADER = {
  size: 24,
  largeSize: 28,
  headerChecksum: 16,
  fileChecksum: 17,
  type: 18,
  attributes: 19,
  fileSize: 20,
  state: 23,
  extendedSize: 24,
} as const;
export const FFS_ATTRIB_LARGE_FILE = 0x01;
export const FFS_FILE_ALIGNMENT = 8;
export const FFS_TYPE_RAW = 0x01;
export const FFS_FIXED_FILE_CHECKSUM = 0xaa;
export const FFS_STATE_VALID = 0x07; // HEADER_CONSTRUCTION | HEADER_VALID | DATA_VALID
/** A header is intact when its 8-bit byte sum is 0xAA + 0x07 (td-shim ffs_header_validate_checksum). */
const FFS_HEADER_SUM = (FFS_FIXED_FILE_CHECKSUM + FFS_STATE_VALID) & 0xff;

/** GUIDs of the files MigTD reads from its CFV (MigTD src/migtd/src/config.rs). */
export const MIGTD_FILE_GUIDS = {
  policy: "0be92dc3-6221-4c98-87c1-8eeffd70de5a",
  rootCa: "ca437832-4c51-4322-b13d-a21bd0c8fff6",
  policyIssuerChain: "3f2fb27a-9596-431c-a68d-d3eab39f8aeb",
} as const;

const KNOWN_FILE_NAMES: Record<string, string> = {
  [MIGTD_FILE_GUIDS.policy]: "MigTD migration policy",
  [MIGTD_FILE_GUIDS.rootCa]: "MigTD attestation root CA",
  [MIGTD_FILE_GUIDS.policyIssuerChain]: "MigTD policy issuer chain",
  "77a2742e-9340-4ac9-8f85-b7b978580021": "td-shim secure boot trust anchor",
};

export interface FirmwareVolumeHeader {
  fileSystemGuid: string;
  length: bigint;
  attributes: number;
  headerLength: number;
  checksum: number;
  extHeaderOffset: number;
  revision: number;
}

export interface CfvFile {
  guid: string;
  /** Purpose of the file in MigTD or td-shim, or null for other GUIDs. */
  knownName: string | null;
  type: number;
  /** File offset of the FFS header in the image. */
  offset: number;
  headerSize: number;
  /** Data size, header excluded. */
  size: number;
  data: Uint8Array;
}

/** Returns the metadata's CFV section (type 1), or throws if it has none. */
export function cfvSection(metadata: TdMetadata): TdvfSection {
  const section = metadata.sections.find((s) => s.type === SECTION_TYPE.cfv);
  if (section === undefined || section.rawDataSize === 0) {
    throw new MeasureError(
      "cfv-missing",
      "TD metadata has no CFV section (type 1) with data, so the image holds no MigTD policy or root CA",
    );
  }
  return section;
}

/**
 * Validates the volume header at the start of a CFV the way td-shim's
 * read_fv_header does: zero vector, '_FVH', revision 2, FvLength equal to
 * the CFV size, HeaderLength inside it and a zero 16-bit checksum.
 */
export function parseFirmwareVolumeHeader(cfv: Uint8Array, base: number): FirmwareVolumeHeader {
  const reader = new ByteReader(cfv, "CFV", base);
  const fail = (field: keyof typeof FV_HEADER, problem: string) =>
    new MeasureError(
      "cfv-invalid",
      `CFV at ${hex(base)} is not a valid firmware volume: ${field} at ${hex(base + FV_HEADER[field])} ${problem}`,
    );

  reader.check(0, FV_HEADER.size, "CFV firmware volume header");
  if (cfv.subarray(0, 16).some((byte) => byte !== 0)) throw fail("zeroVector", "is not all zero");

  const signature = reader.u32(FV_HEADER.signature, "FV Signature");
  if (signature !== FV_SIGNATURE) throw fail("signature", `is ${hex(signature)}, expected '_FVH' (0x4856465f)`);

  const revision = reader.u8(FV_HEADER.revision, "FV Revision");
  if (revision !== FV_REVISION) throw fail("revision", `is ${revision}, expected ${FV_REVISION}`);

  const length = reader.u64(FV_HEADER.length, "FV FvLength");
  if (length !== BigInt(cfv.length)) throw fail("length", `(FvLength) is ${hex(length)}, expected the CFV size ${hex(cfv.length)}`);

  const headerLength = reader.u16(FV_HEADER.headerLength, "FV HeaderLength");
  if (headerLength < FV_HEADER.size || headerLength >= cfv.length) {
    throw fail("headerLength", `is ${hex(headerLength)}, outside ${hex(FV_HEADER.size)}-${hex(cfv.length)}`);
  }

  // td-shim sums only the 56-byte EFI_FIRMWARE_VOLUME_HEADER, so the block
  // map it writes after it is not covered. The PI specification and EDK II
  // sum all HeaderLength bytes. Either form is accepted.
  const sum = sum16(cfv.subarray(0, FV_HEADER.size));
  if (sum !== 0 && sum16(cfv.subarray(0, headerLength)) !== 0) {
    throw fail("checksum", `does not make the header sum to zero (sum of the first 56 bytes ${hex(sum)})`);
  }

  return {
    fileSystemGuid: bytesToGuid(cfv.subarray(FV_HEADER.fileSystemGuid, FV_HEADER.fileSystemGuid + GUID_SIZE)),
    length,
    attributes: reader.u32(FV_HEADER.attributes, "FV Attributes"),
    headerLength,
    checksum: reader.u16(FV_HEADER.checksum, "FV Checksum"),
    extHeaderOffset: reader.u16(FV_HEADER.extHeaderOffset, "FV ExtHeaderOffset"),
    revision,
  };
}

/**
 * Lists the files of the image's CFV. As in td-shim's get_file_from_fv, the
 * walk stops at the first header that does not fit or whose checksum is
 * wrong (erased space, the end of the files), so later files are not seen.
 */
export function readCfvFiles(image: Uint8Array | ImageBytes, metadata: TdMetadata): CfvFile[] {
  const section = cfvSection(metadata);
  const cfv = ImageBytes.of(image).view(section.dataOffset, section.rawDataSize);
  const header = parseFirmwareVolumeHeader(cfv, section.dataOffset);
  return listFfsFiles(cfv, header.headerLength, section.dataOffset);
}

function listFfsFiles(cfv: Uint8Array, start: number, base: number): CfvFile[] {
  const reader = new ByteReader(cfv, "CFV", base);
  const files: CfvFile[] = [];
  let offset = start;

  while (offset + FFS_HEADER.size <= cfv.length) {
    const large = (reader.u8(offset + FFS_HEADER.attributes, "FFS Attributes") & FFS_ATTRIB_LARGE_FILE) !== 0;
    const headerSize = large ? FFS_HEADER.largeSize : FFS_HEADER.size;
    if (offset + headerSize > cfv.length) break;

    const fileSize = large
      ? reader.u32(offset + FFS_HEADER.extendedSize, "FFS ExtendedSize")
      : reader.u24(offset + FFS_HEADER.fileSize, "FFS Size");
    const intact = sum8(cfv.subarray(offset, offset + headerSize)) === FFS_HEADER_SUM;
    if (!intact || fileSize < headerSize || offset + fileSize > cfv.length) break;

    const guid = bytesToGuid(cfv.subarray(offset, offset + GUID_SIZE));
    files.push({
      guid,
      knownName: KNOWN_FILE_NAMES[guid] ?? null,
      type: reader.u8(offset + FFS_HEADER.type, "FFS Type"),
      offset: base + offset,
      headerSize,
      size: fileSize - headerSize,
      data: cfv.subarray(offset + headerSize, offset + fileSize),
    });
    offset += alignUp(fileSize, FFS_FILE_ALIGNMENT);
  }
  return files;
}

/** Returns the data of the first raw file named `guid`, or throws a MeasureError naming it. */
export function requireRawFile(files: CfvFile[], guid: string, purpose: string): Uint8Array {
  const file = files.find((f) => f.guid === guid && f.type === FFS_TYPE_RAW);
  if (file !== undefined) return file.data;

  const found = files.length === 0 ? "no files" : files.map((f) => f.guid).join(", ");
  throw new MeasureError(
    "cfv-file-missing",
    `CFV has no raw file ${guid} (${purpose}); it holds ${found} (the file list ends at the first file header that does not fit or whose checksum is wrong). Enroll it with 'migtd-repro enroll', or check the --policy-v2 and --test-disable-ra-and-accept-all options match the build`,
  );
}

export function alignUp(value: number, alignment: number): number {
  return Math.ceil(value / alignment) * alignment;
}

export function sum8(bytes: Uint8Array): number {
  let sum = 0;
  for (const byte of bytes) sum = (sum + byte) & 0xff;
  return sum;
}

export function sum16(bytes: Uint8Array): number {
  let sum = 0;
  for (let i = 0; i + 1 < bytes.length; i += 2) sum = (sum + (bytes[i]! | (bytes[i + 1]! << 8))) & 0xffff;
  return sum;
}
