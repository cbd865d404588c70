import { createHash, type Hash } from "node:crypto";
import { ImageBytes } from "./image-bytes.js";
import { hex, MeasureError } from "./measure-error.js";
import {
  PAGE_SIZE,
  SECTION_ATTRIBUTE,
  type TdMetadata,
  type TdvfSection,
} from "./td-metadata.js";

/**
 * Order of the measurement blocks, which depends on the VMM that built the
 * TD. "single-pass" adds each page and then extends it (Linux KVM, QEMU up
 * to 8.1, MigTD's migtd-hash). "two-pass" adds every page of a section and
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

// Pages per buffer between SHA-384 updates (about 800 KiB of blocks).
const STREAM_BUFFER_PAGES = 128;

/** Computes MRTD over the sections in table order. */
export function computeMrtd(
  image: Uint8Array | ImageBytes,
  metadata: TdMetadata,
  order: PageOrder = "single-pass",
): Buffer {
  checkMeasureLimits(metadata);

  const stream = new BlockStream(createHash("sha384"));
  const window = new PageWindow(ImageBytes.of(image));
  for (const section of metadata.sections) {
    const view = new SectionView(window, section);
    // A PAGE.AUG section without MR.EXTEND contributes nothing, and its
    // MemoryDataSize is not limited, so its pages must not even be counted.
    if (!view.added && !view.extended) continue;

    if (order === "single-pass" && view.added && view.extended) {
      stream.writePages(view, "add+extend");
    } else {
      if (view.added) stream.writePages(view, "add");
      if (view.extended) stream.writePages(view, "extend");
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

/**
 * A section's pages: the raw data from the image, then zeros up to
 * MemoryDataSize. TdInfo may have MemoryDataSize below RawDataSize, and then
 * only the first MemoryDataSize bytes count.
 */
class SectionView {
  readonly pages: number;
  readonly added: boolean;
  readonly extended: boolean;
  private readonly dataOffset: number;
  private readonly rawDataSize: number;
  private readonly gpaLow: number;
  private readonly gpaHigh: number;

  constructor(
    private readonly window: PageWindow,
    section: TdvfSection,
  ) {
    this.pages = Number(section.memoryDataSize / BigInt(PAGE_SIZE));
    this.added = isAdded(section);
    this.extended = isExtended(section);
    // A section without raw data may have any DataOffset, so it is never read.
    this.dataOffset = section.dataOffset;
    this.rawDataSize = section.rawDataSize;
    this.gpaLow = Number(section.memoryAddress & 0xffffffffn);
    this.gpaHigh = Number(section.memoryAddress >> 32n);
  }

  /**
   * Writes the GPA of `page` plus `offset` (below 4 KiB) as u64 LE at a
   * 4-byte aligned position of target. Stores go through a Uint32Array on
   * little-endian hosts: writeUInt32LE boxes every GPA above 2^31 as a heap
   * number, and the garbage from 70,000 chunk headers costs more time than
   * the writes themselves.
   */
  writeGpa(target: StreamBuffer, at: number, page: number, offset: number): void {
    const low = this.gpaLow + page * PAGE_SIZE + offset;
    const high = this.gpaHigh + Math.floor(low / 0x1_0000_0000);
    if (LITTLE_ENDIAN) {
      target.words[at >> 2] = low;
      target.words[(at >> 2) + 1] = high;
    } else {
      target.bytes.writeUInt32LE(low % 0x1_0000_0000, at);
      target.bytes.writeUInt32LE(high >>> 0, at + 4);
    }
  }

  /**
   * Writes a page's 16 MR.EXTEND blocks (headers already in place) at `at`.
   * The page's content is staged once and spread to the 16 chunk slots with
   * copyWithin, because Buffer.copy and subarray allocate a view per call.
   */
  writeExtends(target: StreamBuffer, at: number, page: number): void {
    const pageStart = page * PAGE_SIZE;
    const available = Math.max(0, Math.min(PAGE_SIZE, this.rawDataSize - pageStart));
    const staging = target.stagingOffset;
    if (available > 0) {
      target.bytes.set(this.window.bytes(this.dataOffset, this.rawDataSize, pageStart, available), staging);
    }
    if (available < PAGE_SIZE) target.bytes.fill(0, staging + available, staging + PAGE_SIZE);

    for (let chunk = 0; chunk < CHUNKS_PER_PAGE; chunk++) {
      const header = at + chunk * (BLOCK_SIZE + EXTEND_CHUNK_SIZE);
      const from = staging + chunk * EXTEND_CHUNK_SIZE;
      this.writeGpa(target, header + BLOCK_GPA_OFFSET, page, chunk * EXTEND_CHUNK_SIZE);
      target.bytes.copyWithin(header + BLOCK_SIZE, from, from + EXTEND_CHUNK_SIZE);
    }
  }
}

// Bytes read from an image file at a time (128 pages).
const WINDOW_SIZE = 512 * 1024;

/**
 * Section data on its way to the block stream. An image in memory is read
 * in place. An image file is read a window at a time into one reused
 * buffer, so the pages are never all in memory.
 */
class PageWindow {
  private buffer: Uint8Array | undefined;
  private start = 0;
  private end = 0;

  constructor(private readonly image: ImageBytes) {}

  /** Returns the `length` bytes at `offset` of the section data at [dataOffset, dataOffset + dataSize). */
  bytes(dataOffset: number, dataSize: number, offset: number, length: number): Uint8Array {
    if (this.image.isInMemory) return this.image.view(dataOffset + offset, length);

    const from = dataOffset + offset;
    if (from < this.start || from + length > this.end) {
      this.buffer ??= new Uint8Array(WINDOW_SIZE);
      const size = Math.min(WINDOW_SIZE, dataOffset + dataSize - from);
      this.image.copyRange(this.buffer.subarray(0, size), from);
      this.start = from;
      this.end = from + size;
    }
    return this.buffer!.subarray(from - this.start, from - this.start + length);
  }
}

/**
 * A page's share of the block stream: its PAGE.ADD block, its 16 MR.EXTEND
 * blocks with data, or both (single-pass order).
 */
type PageUnit = "add" | "extend" | "add+extend";

const UNIT_SIZE: Record<PageUnit, number> = {
  add: BLOCK_SIZE,
  extend: EXTENDED_PAGE_STREAM_SIZE,
  "add+extend": BLOCK_SIZE + EXTENDED_PAGE_STREAM_SIZE,
};

/**
 * Feeds the block stream to SHA-384 in large updates. Each kind of page unit
 * has its own buffer whose block headers ("MEM.PAGE.ADD", "MR.EXTEND" and
 * zero padding) are written once. Per page only the GPAs and the data
 * change, so no allocation or header copy happens per page or chunk.
 */
class BlockStream {
  private readonly buffers = new Map<PageUnit, StreamBuffer>();
  private pending: { unit: PageUnit; count: number } | null = null;

  constructor(private readonly hash: Hash) {}

  writePages(section: SectionView, unit: PageUnit): void {
    const buffer = this.buffer(unit);
    const size = UNIT_SIZE[unit];
    for (let page = 0; page < section.pages; page++) {
      const slot = this.take(unit) * size;
      if (unit === "extend") {
        section.writeExtends(buffer, slot, page);
        continue;
      }
      section.writeGpa(buffer, slot + BLOCK_GPA_OFFSET, page, 0);
      if (unit === "add+extend") section.writeExtends(buffer, slot + BLOCK_SIZE, page);
    }
  }

  digest(): Buffer {
    this.flush();
    return this.hash.digest();
  }

  /** Index of the next free unit in the unit's buffer, flushing first if needed. */
  private take(unit: PageUnit): number {
    if (this.pending !== null && (this.pending.unit !== unit || this.pending.count === STREAM_BUFFER_PAGES)) {
      this.flush();
    }
    this.pending ??= { unit, count: 0 };
    return this.pending.count++;
  }

  private flush(): void {
    if (this.pending === null) return;
    const { unit, count } = this.pending;
    this.hash.update(this.buffer(unit).bytes.subarray(0, count * UNIT_SIZE[unit]));
    this.pending = null;
  }

  private buffer(unit: PageUnit): StreamBuffer {
    let buffer = this.buffers.get(unit);
    if (buffer === undefined) {
      buffer = unitTemplate(unit);
      this.buffers.set(unit, buffer);
    }
    return buffer;
  }
}

const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/**
 * One buffer seen as bytes and, for GPA stores, as 32-bit words: page units
 * first, then one page of staging space.
 */
interface StreamBuffer {
  bytes: Buffer;
  words: Uint32Array;
  stagingOffset: number;
}

function unitTemplate(unit: PageUnit): StreamBuffer {
  const size = UNIT_SIZE[unit];
  const stagingOffset = size * STREAM_BUFFER_PAGES;
  const arrayBuffer = new ArrayBuffer(stagingOffset + PAGE_SIZE);
  const buffer = Buffer.from(arrayBuffer);
  let at = 0;
  if (unit !== "extend") {
    buffer.write("MEM.PAGE.ADD", at, "latin1");
    at += BLOCK_SIZE;
  }
  if (unit !== "add") {
    for (let chunk = 0; chunk < CHUNKS_PER_PAGE; chunk++) {
      buffer.write("MR.EXTEND", at + chunk * (BLOCK_SIZE + EXTEND_CHUNK_SIZE), "latin1");
    }
  }

  // Copy the first unit to the others, doubling the filled part each time.
  for (let filled = size; filled < stagingOffset; filled *= 2) {
    buffer.copyWithin(filled, 0, Math.min(filled, stagingOffset - filled));
  }
  return { bytes: buffer, words: new Uint32Array(arrayBuffer), stagingOffset };
}
