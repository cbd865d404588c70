import { ByteReader } from "./byte-reader.js";
import { bytesToGuid, GUID_SIZE, guidEquals } from "./guid.js";
import { ImageBytes } from "./image-bytes.js";
import { hex, MeasureError } from "./measure-error.js";

// Locating the metadata (td-shim specification, TDVF design guide):
// - OVMF/TDVF: a GUID table ends 0x20 bytes before the end of the image with
//   the footer GUID at size-0x30 and the table's total length (u16) before
//   it. Entries run backwards from there, each `data, u16 length, GUID`
//   where length covers all three. The TDX metadata entry's data ends with a
//   u32 v, and the descriptor starts at size - v.
// - td-shim: the u32 at size-0x20 is the file offset of the descriptor.
// In both, the metadata GUID occupies the 16 bytes before the descriptor.
const OVMF_TABLE_FOOTER_GUID = "96b582de-1fb2-45f7-baea-a366c55a082d";
const OVMF_TABLE_FOOTER_OFFSET_FROM_END = 0x30;
const OVMF_TABLE_ENTRY_TRAILER_SIZE = 2 + GUID_SIZE;
const OVMF_TDX_METADATA_ENTRY_GUID = "e47a6535-984a-4798-865e-4685a7bf8ec2";
const TD_SHIM_METADATA_POINTER_OFFSET_FROM_END = 0x20;
export const TDX_METADATA_GUID = "e9eaf9f3-168e-44d5-a8eb-7f4d8738f6ae";

// TDVF_DESCRIPTOR: Signature 'TDVF' (0), Length (4), Version (8),
// NumberOfSectionEntry (12), then the section table (16).
const DESCRIPTOR_SIGNATURE = 0x46564454; // 'TDVF' read as u32 LE
const DESCRIPTOR_HEADER_SIZE = 16;
const DESCRIPTOR_VERSION = 1;

// TDVF_SECTION, 32 bytes: DataOffset u32 (0), RawDataSize u32 (4),
// MemoryAddress u64 (8), MemoryDataSize u64 (16), Type u32 (24),
// Attributes u32 (28).
const SECTION_SIZE = 32;
const SECTION_FIELD = {
  dataOffset: 0,
  rawDataSize: 4,
  memoryAddress: 8,
  memoryDataSize: 16,
  type: 24,
  attributes: 28,
} as const;

export const PAGE_SIZE = 0x1000;

/** TDVF section types (td-shim specification, TDVF_SECTION.Type). */
export const SECTION_TYPE_NAMES = [
  "BFV",
  "CFV",
  "TD_HOB",
  "TempMem",
  "PermMem",
  "Payload",
  "PayloadParam",
  "TdInfo",
  "TdParams",
] as const;
export const SECTION_TYPE = {
  bfv: 0,
  cfv: 1,
  tdHob: 2,
  tempMem: 3,
  permMem: 4,
  payload: 5,
  payloadParam: 6,
  tdInfo: 7,
  tdParams: 8,
} as const;

/** TDVF_SECTION.Attributes bits. */
export const SECTION_ATTRIBUTE = {
  /** The section's pages are measured into MRTD with TDH.MR.EXTEND. */
  mrExtend: 0x1,
  /** The pages are accepted later (TDH.MEM.PAGE.AUG), so not added or measured now. */
  pageAug: 0x2,
} as const;

export type MetadataLayout = "ovmf-guid-table" | "td-shim";

export interface TdvfSection {
  index: number;
  /** File offset of this 32-byte entry in the section table. */
  entryOffset: number;
  dataOffset: number;
  rawDataSize: number;
  memoryAddress: bigint;
  memoryDataSize: bigint;
  type: number;
  typeName: string;
  attributes: number;
}

export interface TdMetadata {
  layout: MetadataLayout;
  /** File offset of the value that located the descriptor. */
  locatorOffset: number;
  /** File offset of the 'TDVF' signature. */
  descriptorOffset: number;
  descriptorLength: number;
  imageSize: number;
  sections: TdvfSection[];
}

/**
 * Finds and validates the TDX metadata of a TD firmware image in either
 * layout, applying the sanity rules upstream's MRTD tools apply (td-shim
 * td-shim-tools tee_info_hash.rs) and range checks they leave to a panic.
 */
export function parseTdMetadata(input: Uint8Array | ImageBytes): TdMetadata {
  const image = ImageBytes.of(input);
  const reader = new ByteReader(image.sparse, "image", 0, (offset, length) => image.load(offset, length));
  if (image.length < OVMF_TABLE_FOOTER_OFFSET_FROM_END) {
    throw new MeasureError(
      "image-truncated",
      `image is ${image.length} bytes, too small for a TD firmware image (the metadata locator alone needs ${OVMF_TABLE_FOOTER_OFFSET_FROM_END} bytes at the end)`,
    );
  }

  const located = locateDescriptor(reader);
  const metadata = readDescriptor(reader, located);
  for (const section of metadata.sections) validateSection(section, metadata);
  return metadata;
}

interface LocatedDescriptor {
  layout: MetadataLayout;
  locatorOffset: number;
  descriptorOffset: number;
}

function locateDescriptor(reader: ByteReader): LocatedDescriptor {
  const size = reader.length;
  const footerOffset = size - OVMF_TABLE_FOOTER_OFFSET_FROM_END;
  const footer = reader.slice(footerOffset, GUID_SIZE, "OVMF GUID table footer");
  if (guidEquals(footer, OVMF_TABLE_FOOTER_GUID)) {
    const located = locateInGuidTable(reader, footerOffset);
    checkTdShimPointerAgrees(reader, located);
    return located;
  }

  const pointerOffset = size - TD_SHIM_METADATA_POINTER_OFFSET_FROM_END;
  const pointer = reader.u32(pointerOffset, "td-shim metadata pointer");
  if (pointer < GUID_SIZE || pointer + DESCRIPTOR_HEADER_SIZE > size) {
    throw new MeasureError(
      "no-metadata",
      `no TDX metadata found: no OVMF GUID table footer at ${hex(footerOffset)}, and the td-shim metadata pointer at ${hex(pointerOffset)} is ${hex(pointer)}, outside the ${hex(size)}-byte image`,
    );
  }

  const guid = reader.slice(pointer - GUID_SIZE, GUID_SIZE, "TDX metadata GUID");
  if (!guidEquals(guid, TDX_METADATA_GUID)) {
    throw new MeasureError(
      "no-metadata",
      `no TDX metadata found: no OVMF GUID table footer at ${hex(footerOffset)}, and the td-shim metadata pointer at ${hex(pointerOffset)} (${hex(pointer)}) leads to GUID ${bytesToGuid(guid)} at ${hex(pointer - GUID_SIZE)}, not the TDX metadata GUID ${TDX_METADATA_GUID}`,
    );
  }
  return { layout: "td-shim", locatorOffset: pointerOffset, descriptorOffset: pointer };
}

/**
 * Rejects an image whose td-shim pointer leads to other TDX metadata than its
 * OVMF GUID table. td-shim writes both locators. A VMM such as QEMU follows
 * the GUID table and migtd-hash follows the pointer, so two descriptors
 * would give the same image two MRTDs.
 */
function checkTdShimPointerAgrees(reader: ByteReader, located: LocatedDescriptor): void {
  const pointerOffset = reader.length - TD_SHIM_METADATA_POINTER_OFFSET_FROM_END;
  const pointer = reader.u32(pointerOffset, "td-shim metadata pointer");
  if (pointer === located.descriptorOffset) return;
  if (pointer < GUID_SIZE || pointer + DESCRIPTOR_HEADER_SIZE > reader.length) return;

  const guid = reader.slice(pointer - GUID_SIZE, GUID_SIZE, "TDX metadata GUID");
  if (!guidEquals(guid, TDX_METADATA_GUID)) return;

  throw new MeasureError(
    "metadata-ambiguous",
    `the OVMF GUID table places the TDX metadata descriptor at ${hex(located.descriptorOffset)}, but the td-shim metadata pointer at ${hex(pointerOffset)} places another one at ${hex(pointer)}; a VMM and migtd-hash would measure different sections, so rebuild the image with one descriptor`,
  );
}

function locateInGuidTable(reader: ByteReader, footerOffset: number): LocatedDescriptor {
  const size = reader.length;
  const lengthOffset = footerOffset - 2;
  const tableLength = reader.u16(lengthOffset, "OVMF GUID table length");
  const tableStart = footerOffset + GUID_SIZE - tableLength;
  if (tableLength < OVMF_TABLE_ENTRY_TRAILER_SIZE || tableStart < 0) {
    throw new MeasureError(
      "locator-out-of-range",
      `OVMF GUID table length ${hex(tableLength)} at ${hex(lengthOffset)} is invalid: it must be at least ${OVMF_TABLE_ENTRY_TRAILER_SIZE} and fit in the ${hex(size)}-byte image`,
    );
  }

  // Walk the entries backwards from the end of the entry just before the footer.
  let entryEnd = lengthOffset;
  while (entryEnd - OVMF_TABLE_ENTRY_TRAILER_SIZE >= tableStart) {
    const guid = reader.slice(entryEnd - GUID_SIZE, GUID_SIZE, "OVMF GUID table entry GUID");
    const lengthAt = entryEnd - OVMF_TABLE_ENTRY_TRAILER_SIZE;
    const entryLength = reader.u16(lengthAt, "OVMF GUID table entry length");
    if (entryLength < OVMF_TABLE_ENTRY_TRAILER_SIZE || entryEnd - entryLength < tableStart) {
      throw new MeasureError(
        "locator-out-of-range",
        `OVMF GUID table entry ${bytesToGuid(guid)} has length ${hex(entryLength)} at ${hex(lengthAt)}, which does not fit the table (${hex(tableStart)}-${hex(footerOffset + GUID_SIZE)})`,
      );
    }

    if (guidEquals(guid, OVMF_TDX_METADATA_ENTRY_GUID)) {
      return descriptorFromGuidTableEntry(reader, lengthAt, entryLength);
    }
    entryEnd -= entryLength;
  }

  throw new MeasureError(
    "no-metadata",
    `no TDX metadata found: the OVMF GUID table at ${hex(tableStart)} has no TDX metadata entry (${OVMF_TDX_METADATA_ENTRY_GUID}), so this firmware was not built with TDX support`,
  );
}

function descriptorFromGuidTableEntry(
  reader: ByteReader,
  lengthAt: number,
  entryLength: number,
): LocatedDescriptor {
  const size = reader.length;
  const valueOffset = lengthAt - 4;
  if (entryLength < OVMF_TABLE_ENTRY_TRAILER_SIZE + 4) {
    throw new MeasureError(
      "locator-out-of-range",
      `OVMF GUID table TDX metadata entry at ${hex(lengthAt)} has length ${entryLength}, too short for its u32 offset`,
    );
  }

  const fromEnd = reader.u32(valueOffset, "OVMF TDX metadata offset");
  const descriptorOffset = size - fromEnd;
  if (fromEnd > size || descriptorOffset < GUID_SIZE || descriptorOffset + DESCRIPTOR_HEADER_SIZE > size) {
    throw new MeasureError(
      "locator-out-of-range",
      `OVMF TDX metadata offset ${hex(fromEnd)} at ${hex(valueOffset)} places the descriptor at image end - ${hex(fromEnd)}, outside the ${hex(size)}-byte image`,
    );
  }

  const guidOffset = descriptorOffset - GUID_SIZE;
  const guid = reader.slice(guidOffset, GUID_SIZE, "TDX metadata GUID");
  if (!guidEquals(guid, TDX_METADATA_GUID)) {
    throw new MeasureError(
      "metadata-guid",
      `TDX metadata GUID at ${hex(guidOffset)} is ${bytesToGuid(guid)}, expected ${TDX_METADATA_GUID}`,
    );
  }
  return { layout: "ovmf-guid-table", locatorOffset: valueOffset, descriptorOffset };
}

function readDescriptor(reader: ByteReader, located: LocatedDescriptor): TdMetadata {
  const at = located.descriptorOffset;
  const signature = reader.u32(at, "TDVF descriptor Signature");
  if (signature !== DESCRIPTOR_SIGNATURE) {
    const text = JSON.stringify(Buffer.from(reader.slice(at, 4, "TDVF descriptor Signature")).toString("latin1"));
    throw new MeasureError(
      "metadata-descriptor",
      `TDVF descriptor Signature at ${hex(at)} is ${text}, expected "TDVF"`,
    );
  }

  const version = reader.u32(at + 8, "TDVF descriptor Version");
  if (version !== DESCRIPTOR_VERSION) {
    throw new MeasureError(
      "metadata-descriptor",
      `TDVF descriptor Version at ${hex(at + 8)} is ${version}, expected ${DESCRIPTOR_VERSION}`,
    );
  }

  const count = reader.u32(at + 12, "TDVF descriptor NumberOfSectionEntry");
  if (count === 0) {
    throw new MeasureError(
      "metadata-descriptor",
      `TDVF descriptor NumberOfSectionEntry at ${hex(at + 12)} is 0, expected at least one section`,
    );
  }

  const length = reader.u32(at + 4, "TDVF descriptor Length");
  const expectedLength = DESCRIPTOR_HEADER_SIZE + SECTION_SIZE * count;
  if (length !== expectedLength) {
    throw new MeasureError(
      "metadata-descriptor",
      `TDVF descriptor Length at ${hex(at + 4)} is ${hex(length)}, expected ${hex(expectedLength)} (16 + 32 * ${count} sections)`,
    );
  }
  reader.check(at, length, `TDVF section table (${count} sections)`);

  const sections: TdvfSection[] = [];
  for (let index = 0; index < count; index++) {
    sections.push(readSection(reader, index, at + DESCRIPTOR_HEADER_SIZE + index * SECTION_SIZE));
  }

  return {
    ...located,
    descriptorLength: length,
    imageSize: reader.length,
    sections,
  };
}

function readSection(reader: ByteReader, index: number, entryOffset: number): TdvfSection {
  const field = (name: string) => `TDVF section ${index} ${name}`;
  const type = reader.u32(entryOffset + SECTION_FIELD.type, field("Type"));
  return {
    index,
    entryOffset,
    dataOffset: reader.u32(entryOffset + SECTION_FIELD.dataOffset, field("DataOffset")),
    rawDataSize: reader.u32(entryOffset + SECTION_FIELD.rawDataSize, field("RawDataSize")),
    memoryAddress: reader.u64(entryOffset + SECTION_FIELD.memoryAddress, field("MemoryAddress")),
    memoryDataSize: reader.u64(entryOffset + SECTION_FIELD.memoryDataSize, field("MemoryDataSize")),
    type,
    typeName: sectionTypeName(type),
    attributes: reader.u32(entryOffset + SECTION_FIELD.attributes, field("Attributes")),
  };
}

export function sectionTypeName(type: number): string {
  return SECTION_TYPE_NAMES[type] ?? `unknown type ${type}`;
}

/** Spells out TDVF_SECTION.Attributes: "MR.EXTEND", "PAGE.AUG", both, or "none". */
export function describeAttributes(attributes: number): string {
  const names: string[] = [];
  if (attributes & SECTION_ATTRIBUTE.mrExtend) names.push("MR.EXTEND");
  if (attributes & SECTION_ATTRIBUTE.pageAug) names.push("PAGE.AUG");
  const unknown = attributes & ~(SECTION_ATTRIBUTE.mrExtend | SECTION_ATTRIBUTE.pageAug);
  if (unknown) names.push(`unknown bits ${hex(unknown)}`);
  return names.length === 0 ? "none (PAGE.ADD only)" : names.join(" + ");
}

const U64_LIMIT = 1n << 64n;

function validateSection(section: TdvfSection, metadata: TdMetadata): void {
  const at = (name: keyof typeof SECTION_FIELD) => hex(section.entryOffset + SECTION_FIELD[name]);
  const label = `TDVF section ${section.index}`;

  if (section.type >= SECTION_TYPE_NAMES.length) {
    throw new MeasureError(
      "section-invalid",
      `${label} Type ${section.type} at ${at("type")} is not a known section type (0-${SECTION_TYPE_NAMES.length - 1})`,
    );
  }
  if (section.memoryAddress % BigInt(PAGE_SIZE) !== 0n) {
    throw new MeasureError(
      "section-invalid",
      `${label} (${section.typeName}) MemoryAddress ${hex(section.memoryAddress)} at ${at("memoryAddress")} is not 4 KiB aligned`,
    );
  }
  if (section.memoryDataSize % BigInt(PAGE_SIZE) !== 0n) {
    throw new MeasureError(
      "section-invalid",
      `${label} (${section.typeName}) MemoryDataSize ${hex(section.memoryDataSize)} at ${at("memoryDataSize")} is not a multiple of 4 KiB`,
    );
  }
  if (section.memoryAddress + section.memoryDataSize > U64_LIMIT) {
    throw new MeasureError(
      "section-invalid",
      `${label} (${section.typeName}) MemoryAddress ${hex(section.memoryAddress)} + MemoryDataSize ${hex(section.memoryDataSize)} passes the end of the 64-bit address space`,
    );
  }

  // TdInfo may describe data that is not loaded into memory: its GPA and
  // size are zero, so the rule only applies to sections that are loaded.
  const loaded = section.memoryAddress !== 0n || section.memoryDataSize !== 0n;
  if (section.type !== SECTION_TYPE.tdInfo && loaded && section.memoryDataSize < BigInt(section.rawDataSize)) {
    throw new MeasureError(
      "section-invalid",
      `${label} (${section.typeName}) MemoryDataSize ${hex(section.memoryDataSize)} at ${at("memoryDataSize")} is smaller than its RawDataSize ${hex(section.rawDataSize)}`,
    );
  }

  validateRawRange(section, metadata);
}

function validateRawRange(section: TdvfSection, metadata: TdMetadata): void {
  const end = section.dataOffset + section.rawDataSize;
  if (section.rawDataSize === 0 || end <= metadata.imageSize) return;

  const cfv = metadata.sections.find((s) => s.type === SECTION_TYPE.cfv);
  const missing = end - metadata.imageSize;
  if (cfv !== undefined && cfv.dataOffset === 0 && cfv.rawDataSize === missing) {
    throw new MeasureError(
      "split-firmware",
      `TDVF section ${section.index} (${section.typeName}) ends at ${hex(end)}, ${hex(missing)} bytes past the end of this ${hex(metadata.imageSize)}-byte file: this is the code half of a split firmware (like OVMF_CODE.fd) without its ${hex(cfv.rawDataSize)}-byte variable store; measure the combined image (like OVMF.fd) instead`,
    );
  }
  throw new MeasureError(
    "section-out-of-range",
    `TDVF section ${section.index} (${section.typeName}) RawDataSize ${hex(section.rawDataSize)} at DataOffset ${hex(section.dataOffset)} runs past the end of the image (${hex(metadata.imageSize)})`,
  );
}
