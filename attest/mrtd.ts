import { createHash, type Hash } from "node:crypto";
import { hex, MeasureError } from "./measure-error.js";
import {
  PAGE_SIZE,
  SECTION_ATTRIBUTE,
  type TdMetadata,
  type TdvfSection,
} from "./td-metadata.js";

/**
 * Order of the measurement blocks, which depends on the VMM that built the
 * TD: "single-pass" adds each page and then extends it (Linux KVM, QEMU up
 * to 8.1, MigTD's migtd-hash); "two-pass" adds every page of a section and
 * then extends them all (Intel's QEMU TDX branch 8.2.50, Ubuntu 24.04 QEMU
 * 8.2.2+tdx).
 */
export type PageOrder = "single-pass" | "two-pass";

export const PAGE_ORDERS: readonly PageOrder[] = ["single-pass", "two-pass"];

// TDX module ABI: MRTD is SHA-384 over 128-byte blocks. TDH.MEM.PAGE.ADD
// contributes "MEM.PAGE.ADD" at byte 0 and the page GPA (u64 LE) at byte 16.
// TDH.MR.EXTEND measures 256-byte chunks: "MR.EXTEND" and the chunk GPA in
// the same places, followed by the 256 chunk bytes.
const BLOCK_SIZE = 128;
const BLOCK_GPA_OFFSET = 16;
const EXTEND_CHUNK_SIZE = 256;
const CHUNKS_PER_PAGE = PAGE_SIZE / EXTEND_CHUNK_SIZE;
const EXTENDED_PAGE_STREAM_SIZE = CHUNKS_PER_PAGE * (BLOCK_SIZE + EXTEND_CHUNK_SIZE);
const PAGE_ADD_BLOCK = blockTemplate("MEM.PAGE.ADD");
const MR_EXTEND_BLOCK = blockTemplate("MR.EXTEND");

/**
 * Limits that keep a corrupt or hostile image from hashing for minutes:
 * MemoryDataSize is a u64, so one section entry can claim terabytes. Real
 * TD firmware measures far less (MigTD and td-shim: 16 MiB, OVMF: 4 MiB).
 * At the limits one MRTD hashes about 128 MiB, a quarter of a second at the
 * 0.5 GB/s node:crypto reaches for SHA-384 on the development machine.
 * NOTE: a firmware that extends more than 64 MiB into MRTD is rejected;
 * raise maxExtendedBytes if such a firmware turns up.
 */
export const MEASURE_LIMITS = {
  /** Total MemoryDataSize of sections measured with MR.EXTEND. */
  maxExtendedBytes: 64 * 1024 * 1024,
  /** Total pages added with TDH.MEM.PAGE.ADD (1 GiB of guest memory). */
  maxAddedPages: 256 * 1024,
} as const;

// Blocks are written into one reused buffer and hashed in large updates,
// so no allocation happens per page or chunk.
const STREAM_BUFFER_PAGES = 128;

/** Computes MRTD over the sections in table order. */
export function computeMrtd(
  image: Uint8Array,
  metadata: TdMetadata,
  order: PageOrder = "single-pass",
): Buffer {
  checkMeasureLimits(metadata);

  const stream = new BlockStream(createHash("sha384"));
  for (const section of metadata.sections) {
    const view = new SectionView(image, section);
    // A PAGE.AUG section without MR.EXTEND contributes nothing, and its
    // MemoryDataSize is not limited, so its pages must not even be counted.
    if (!view.added && !view.extended) continue;

    if (order === "single-pass") {
      for (let page = 0; page < view.pages; page++) {
        if (view.added) stream.pageAdd(view, page);
        if (view.extended) stream.mrExtend(view, page);
      }
    } else {
      if (view.added) for (let page = 0; page < view.pages; page++) stream.pageAdd(view, page);
      if (view.extended) for (let page = 0; page < view.pages; page++) stream.mrExtend(view, page);
    }
  }
  return stream.digest();
}

/** Bytes of SHA-384 input that computeMrtd hashes for this metadata. */
export function mrtdInputSize(metadata: TdMetadata): number {
  let total = 0;
  for (const section of metadata.sections) {
    const pages = Number(section.memoryDataSize / BigInt(PAGE_SIZE));
    if (isAdded(section)) total += pages * BLOCK_SIZE;
    if (isExtended(section)) total += pages * EXTENDED_PAGE_STREAM_SIZE;
  }
  return total;
}

function checkMeasureLimits(metadata: TdMetadata): void {
  let addedPages = 0n;
  let extendedBytes = 0n;
  for (const section of metadata.sections) {
    if (isAdded(section)) addedPages += section.memoryDataSize / BigInt(PAGE_SIZE);
    if (isExtended(section)) extendedBytes += section.memoryDataSize;

    const label = `TDVF section ${section.index} (${section.typeName}) MemoryDataSize ${hex(section.memoryDataSize)} at ${hex(section.entryOffset + 16)}`;
    if (extendedBytes > BigInt(MEASURE_LIMITS.maxExtendedBytes)) {
      throw new MeasureError(
        "measure-limit",
        `${label} brings the memory measured with MR.EXTEND to ${hex(extendedBytes)} bytes, above the limit of ${hex(MEASURE_LIMITS.maxExtendedBytes)} (64 MiB); the section table is corrupt or not TD firmware`,
      );
    }
    if (addedPages > BigInt(MEASURE_LIMITS.maxAddedPages)) {
      throw new MeasureError(
        "measure-limit",
        `${label} brings the pages added to MRTD to ${addedPages}, above the limit of ${MEASURE_LIMITS.maxAddedPages} pages (1 GiB); the section table is corrupt or not TD firmware`,
      );
    }
  }
}

function isAdded(section: TdvfSection): boolean {
  return (section.attributes & SECTION_ATTRIBUTE.pageAug) === 0;
}

function isExtended(section: TdvfSection): boolean {
  return (section.attributes & SECTION_ATTRIBUTE.mrExtend) !== 0;
}

function blockTemplate(text: string): Buffer {
  const block = Buffer.alloc(BLOCK_SIZE);
  block.write(text, 0, "latin1");
  return block;
}

/**
 * A section's pages: the raw data from the image, then zeros up to
 * MemoryDataSize. TdInfo may have MemoryDataSize below RawDataSize, and then
 * only the first MemoryDataSize bytes count.
 */
class SectionView {
  readonly pages: number;
  readonly added: boolean;
  readonly extended: boolean;
  private readonly raw: Uint8Array;
  private readonly gpaLow: number;
  private readonly gpaHigh: number;

  constructor(image: Uint8Array, section: TdvfSection) {
    this.pages = Number(section.memoryDataSize / BigInt(PAGE_SIZE));
    this.added = isAdded(section);
    this.extended = isExtended(section);
    this.raw = image.subarray(section.dataOffset, section.dataOffset + section.rawDataSize);
    this.gpaLow = Number(section.memoryAddress & 0xffffffffn);
    this.gpaHigh = Number(section.memoryAddress >> 32n);
  }

  /** Writes the GPA of `page` plus `offset` (below 4 KiB) as u64 LE. */
  writeGpa(target: Buffer, at: number, page: number, offset: number): void {
    const low = this.gpaLow + page * PAGE_SIZE + offset;
    target.writeUInt32LE(low % 0x1_0000_0000, at);
    target.writeUInt32LE((this.gpaHigh + Math.floor(low / 0x1_0000_0000)) >>> 0, at + 4);
  }

  /** Copies one 256-byte chunk of a page into target, zero-filling past the raw data. */
  copyChunk(target: Buffer, at: number, page: number, chunk: number): void {
    const start = page * PAGE_SIZE + chunk * EXTEND_CHUNK_SIZE;
    const available = Math.max(0, Math.min(EXTEND_CHUNK_SIZE, this.raw.length - start));
    if (available > 0) target.set(this.raw.subarray(start, start + available), at);
    if (available < EXTEND_CHUNK_SIZE) target.fill(0, at + available, at + EXTEND_CHUNK_SIZE);
  }
}

class BlockStream {
  private readonly buffer = Buffer.allocUnsafe(
    STREAM_BUFFER_PAGES * (BLOCK_SIZE + EXTENDED_PAGE_STREAM_SIZE),
  );
  private used = 0;

  constructor(private readonly hash: Hash) {}

  pageAdd(section: SectionView, page: number): void {
    this.reserve(BLOCK_SIZE);
    PAGE_ADD_BLOCK.copy(this.buffer, this.used);
    section.writeGpa(this.buffer, this.used + BLOCK_GPA_OFFSET, page, 0);
    this.used += BLOCK_SIZE;
  }

  mrExtend(section: SectionView, page: number): void {
    this.reserve(EXTENDED_PAGE_STREAM_SIZE);
    for (let chunk = 0; chunk < CHUNKS_PER_PAGE; chunk++) {
      MR_EXTEND_BLOCK.copy(this.buffer, this.used);
      section.writeGpa(this.buffer, this.used + BLOCK_GPA_OFFSET, page, chunk * EXTEND_CHUNK_SIZE);
      section.copyChunk(this.buffer, this.used + BLOCK_SIZE, page, chunk);
      this.used += BLOCK_SIZE + EXTEND_CHUNK_SIZE;
    }
  }

  digest(): Buffer {
    this.flush();
    return this.hash.digest();
  }

  private reserve(size: number): void {
    if (this.used + size > this.buffer.length) this.flush();
  }

  private flush(): void {
    if (this.used > 0) this.hash.update(this.buffer.subarray(0, this.used));
    this.used = 0;
  }
}
