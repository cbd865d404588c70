import { hex, MeasureError } from "./measure-error.js";

/**
 * Bounds-checked little-endian reads from a byte array. Every read names the
 * structure and field it is for, so a short or corrupt input produces a
 * MeasureError such as "TDVF descriptor Length at 0x1ff7c4 needs 4 bytes
 * but the image ends at 0x1ff7c6" instead of a RangeError.
 */
export class ByteReader {
  private readonly view: DataView;

  constructor(
    readonly bytes: Uint8Array,
    /** What the bytes are, for messages: "image", "CFV". */
    readonly name = "image",
    /** Offset of bytes[0] in the file, so messages give file offsets. */
    readonly base = 0,
    /** Called before each read, for bytes loaded on demand (ImageBytes). */
    private readonly load?: (offset: number, length: number) => void,
  ) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  get length(): number {
    return this.bytes.length;
  }

  u8(offset: number, field: string): number {
    this.check(offset, 1, field);
    return this.view.getUint8(offset);
  }

  u16(offset: number, field: string): number {
    this.check(offset, 2, field);
    return this.view.getUint16(offset, true);
  }

  u24(offset: number, field: string): number {
    this.check(offset, 3, field);
    return this.view.getUint16(offset, true) | (this.view.getUint8(offset + 2) << 16);
  }

  u32(offset: number, field: string): number {
    this.check(offset, 4, field);
    return this.view.getUint32(offset, true);
  }

  u64(offset: number, field: string): bigint {
    this.check(offset, 8, field);
    return this.view.getBigUint64(offset, true);
  }

  /** A view (not a copy) of `length` bytes at `offset`. */
  slice(offset: number, length: number, field: string): Uint8Array {
    this.check(offset, length, field);
    return this.bytes.subarray(offset, offset + length);
  }

  /** Throws unless `length` bytes at `offset` lie inside the bytes. */
  check(offset: number, length: number, field: string): void {
    const inside =
      Number.isSafeInteger(offset) &&
      offset >= 0 &&
      length >= 0 &&
      offset + length <= this.bytes.length;
    if (inside) {
      this.load?.(offset, length);
      return;
    }

    throw new MeasureError(
      "image-truncated",
      `${field} at ${hex(this.base + offset)} needs ${length} bytes but the ${this.name} ends at ${hex(this.base + this.bytes.length)}`,
    );
  }
}
