// Builds small TD firmware images byte by byte from the specifications
// (td-shim metadata, UEFI PI firmware volumes), and computes their expected
// MRTD and RTMRs independently of attest/, so tests compare the library with
// values derived here from the spec.
import { createHash } from "node:crypto";

export const PAGE = 0x1000;
export const TDX_METADATA_GUID = "e9eaf9f3-168e-44d5-a8eb-7f4d8738f6ae";
export const OVMF_FOOTER_GUID = "96b582de-1fb2-45f7-baea-a366c55a082d";
export const OVMF_TDX_ENTRY_GUID = "e47a6535-984a-4798-865e-4685a7bf8ec2";
export const POLICY_GUID = "0be92dc3-6221-4c98-87c1-8eeffd70de5a";
export const ROOT_CA_GUID = "ca437832-4c51-4322-b13d-a21bd0c8fff6";
export const ISSUER_CHAIN_GUID = "3f2fb27a-9596-431c-a68d-d3eab39f8aeb";

export interface SectionSpec {
  type: number;
  attributes: number;
  gpa: bigint;
  memorySize: bigint;
  dataOffset: number;
  rawSize: number;
}

export interface ImageSpec {
  size: number;
  layout: "td-shim" | "ovmf";
  sections: SectionSpec[];
  /** Where the GUID and descriptor go; must not overlap measured data you care about. */
  metadataOffset: number;
  /** Seed for the pseudo-random bytes that fill the image before anything is written. */
  seed?: number;
}

/** GUID text to its stored bytes: first three fields little-endian. */
export function guidBytes(text: string): Buffer {
  const hex = text.replace(/-/g, "");
  const b = Buffer.from(hex, "hex");
  return Buffer.concat([
    Buffer.from([b[3]!, b[2]!, b[1]!, b[0]!, b[5]!, b[4]!, b[7]!, b[6]!]),
    b.subarray(8),
  ]);
}

/** Deterministic filler (xorshift32), so images are not all zeros. */
export function fillPseudoRandom(target: Buffer, seed = 1): void {
  let x = seed >>> 0 || 1;
  for (let i = 0; i < target.length; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    target[i] = x & 0xff;
  }
}

/** Writes the metadata GUID, 'TDVF' descriptor and section table, and the locator. */
export function buildImage(spec: ImageSpec): Buffer {
  const image = Buffer.alloc(spec.size);
  fillPseudoRandom(image, spec.seed);
  writeMetadata(image, spec);
  return image;
}

export function writeMetadata(image: Buffer, spec: ImageSpec): void {
  const descriptor = spec.metadataOffset + 16;
  guidBytes(TDX_METADATA_GUID).copy(image, spec.metadataOffset);
  image.write("TDVF", descriptor, "latin1");
  image.writeUInt32LE(16 + 32 * spec.sections.length, descriptor + 4);
  image.writeUInt32LE(1, descriptor + 8);
  image.writeUInt32LE(spec.sections.length, descriptor + 12);
  spec.sections.forEach((section, index) => {
    const at = descriptor + 16 + 32 * index;
    image.writeUInt32LE(section.dataOffset, at);
    image.writeUInt32LE(section.rawSize, at + 4);
    image.writeBigUInt64LE(section.gpa, at + 8);
    image.writeBigUInt64LE(section.memorySize, at + 16);
    image.writeUInt32LE(section.type, at + 24);
    image.writeUInt32LE(section.attributes, at + 28);
  });

  if (spec.layout === "td-shim") {
    image.writeUInt32LE(descriptor, image.length - 0x20);
    return;
  }

  // OVMF GUID table ending at size-0x20: one other entry, the TDX entry
  // (u32 offset from the end, u16 length 22, GUID), then the table length
  // and the footer GUID.
  const footer = image.length - 0x30;
  guidBytes(OVMF_FOOTER_GUID).copy(image, footer);
  const tdxEntryEnd = footer - 2;
  guidBytes(OVMF_TDX_ENTRY_GUID).copy(image, tdxEntryEnd - 16);
  image.writeUInt16LE(22, tdxEntryEnd - 18);
  image.writeUInt32LE(image.length - descriptor, tdxEntryEnd - 22);
  const otherEnd = tdxEntryEnd - 22;
  guidBytes("dc886566-984a-4798-a75e-5585a7bf67cc").copy(image, otherEnd - 16);
  image.writeUInt16LE(22, otherEnd - 18);
  image.writeUInt32LE(0x1234, otherEnd - 22);
  image.writeUInt16LE(22 + 22 + 18, footer - 2);
}

/**
 * MRTD from the TDX module's rules, one 128-byte block at a time:
 * MEM.PAGE.ADD blocks unless PAGE.AUG (bit 1), MR.EXTEND blocks plus 256
 * data bytes if bit 0, content = raw data then zeros.
 */
export function expectedMrtd(image: Buffer, sections: SectionSpec[], order: "single-pass" | "two-pass"): Buffer {
  const hash = createHash("sha384");
  const block = (text: string, gpa: bigint) => {
    const b = Buffer.alloc(128);
    b.write(text, 0, "latin1");
    b.writeBigUInt64LE(gpa, 16);
    return b;
  };
  const content = (section: SectionSpec, offset: number) => {
    const chunk = Buffer.alloc(256);
    for (let i = 0; i < 256; i++) {
      const at = offset + i;
      if (at < section.rawSize) chunk[i] = image[section.dataOffset + at]!;
    }
    return chunk;
  };
  const pageAdd = (section: SectionSpec, page: number) => {
    if ((section.attributes & 2) === 0) hash.update(block("MEM.PAGE.ADD", section.gpa + BigInt(page * PAGE)));
  };
  const extend = (section: SectionSpec, page: number) => {
    if ((section.attributes & 1) === 0) return;
    for (let chunk = 0; chunk < 16; chunk++) {
      const offset = page * PAGE + chunk * 256;
      hash.update(block("MR.EXTEND", section.gpa + BigInt(offset)));
      hash.update(content(section, offset));
    }
  };

  for (const section of sections) {
    const pages = Number(section.memorySize) / PAGE;
    if (order === "single-pass") {
      for (let page = 0; page < pages; page++) {
        pageAdd(section, page);
        extend(section, page);
      }
    } else {
      for (let page = 0; page < pages; page++) pageAdd(section, page);
      for (let page = 0; page < pages; page++) extend(section, page);
    }
  }
  return hash.digest();
}

/** RTMR extend: SHA384(old || SHA384(data)). */
export function extend(register: Buffer, data: Uint8Array): Buffer {
  return createHash("sha384").update(Buffer.concat([register, createHash("sha384").update(data).digest()])).digest();
}

export interface FfsFileSpec {
  guid: string;
  data: Uint8Array;
  type?: number;
}

/**
 * A firmware volume from the UEFI PI specification: 56-byte header with a
 * zero 16-bit sum, one block-map entry and its terminator (header length
 * 0x48), then FFS files 8-byte aligned with valid header checksums, then
 * 0xff (erased flash) up to `size`.
 */
export function buildFirmwareVolume(size: number, files: FfsFileSpec[]): Buffer {
  const fv = Buffer.alloc(size, 0xff);
  fv.fill(0, 0, 0x48);
  guidBytes("8c8ce578-8a3d-4f1c-9935-896185c32dd3").copy(fv, 16); // EFI_FIRMWARE_FILE_SYSTEM2_GUID
  fv.writeBigUInt64LE(BigInt(size), 32);
  fv.write("_FVH", 40, "latin1");
  fv.writeUInt32LE(0x0004feff, 44);
  fv.writeUInt16LE(0x48, 48);
  fv.writeUInt8(2, 55);
  fv.writeUInt32LE(size / PAGE, 56);
  fv.writeUInt32LE(PAGE, 60);
  let sum = 0;
  for (let i = 0; i < 56; i += 2) sum = (sum + fv.readUInt16LE(i)) & 0xffff;
  fv.writeUInt16LE((0x10000 - sum) & 0xffff, 50);

  let offset = 0x48;
  for (const file of files) {
    const header = Buffer.alloc(24);
    guidBytes(file.guid).copy(header, 0);
    header[18] = file.type ?? 0x01;
    header.writeUIntLE(24 + file.data.length, 20, 3);
    header[17] = 0xaa;
    header[23] = 0x07;
    let headerSum = 0;
    for (const byte of header) headerSum = (headerSum + byte) & 0xff;
    header[16] = (0xb1 - headerSum) & 0xff; // the 8-bit sum of a valid header is 0xaa + 0x07
    header.copy(fv, offset);
    Buffer.from(file.data).copy(fv, offset + 24);
    offset += Math.ceil((24 + file.data.length) / 8) * 8;
    fv.fill(0, offset - ((8 - ((24 + file.data.length) % 8)) % 8), offset);
  }
  return fv;
}

export interface MigtdImage {
  image: Buffer;
  sections: SectionSpec[];
  cfvSize: number;
}

/**
 * A MigTD-shaped td-shim image: CFV at offset 0 (PAGE.ADD only, as td-shim
 * lays it out), a BFV with MR.EXTEND over the rest of the file, a TD_HOB
 * and a TempMem section without data, metadata near the end of the BFV.
 */
export function buildMigtdImage(options: {
  size: number;
  cfvSize: number;
  files: FfsFileSpec[];
  seed?: number;
}): MigtdImage {
  const { size, cfvSize } = options;
  const sections: SectionSpec[] = [
    { type: 1, attributes: 0, gpa: 0xff000000n, memorySize: BigInt(cfvSize), dataOffset: 0, rawSize: cfvSize },
    { type: 2, attributes: 0, gpa: 0x800000n, memorySize: 0x2000n, dataOffset: 0, rawSize: 0 },
    { type: 3, attributes: 0, gpa: 0x810000n, memorySize: 0x10000n, dataOffset: 0, rawSize: 0 },
    { type: 0, attributes: 1, gpa: BigInt(0x1_0000_0000 - size + cfvSize), memorySize: BigInt(size - cfvSize), dataOffset: cfvSize, rawSize: size - cfvSize },
  ];
  const image = buildImage({ size, layout: "td-shim", sections, metadataOffset: size - 0x400, seed: options.seed });
  buildFirmwareVolume(cfvSize, options.files).copy(image, 0);
  return { image, sections, cfvSize };
}
