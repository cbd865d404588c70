/**
 * Random-access reads from an image file. attest/ does no I/O itself, so
 * callers pass one backed by a file descriptor (cli/io.ts openInputFile).
 */
export interface ImageFile {
  readonly size: number;
  /** Fills `target` with the `target.length` bytes at `offset`, all inside `size`. */
  readInto(target: Uint8Array, offset: number): void;
}

/** Granularity of the parts of a file that ImageBytes loads on demand. */
const BLOCK_SIZE = 64 * 1024;

/**
 * An image in memory, or a file whose bytes are read when first needed.
 * Reading a 16 MiB file into a fresh buffer costs 4,096 page faults, about
 * 8 ms on the development machine. So a file image loads only the blocks
 * that the metadata and CFV parsers touch, and computeMrtd streams the
 * measured pages through a reused buffer with copyRange.
 */
export class ImageBytes {
  private readonly loaded: Uint8Array | undefined;

  private constructor(
    /** The image; for a file, only loaded blocks hold its bytes. */
    private readonly bytes: Uint8Array,
    private readonly file: ImageFile | undefined,
  ) {
    this.loaded = file === undefined ? undefined : new Uint8Array(Math.ceil(bytes.length / BLOCK_SIZE));
  }

  /** An image already in memory. */
  static fromBytes(image: Uint8Array): ImageBytes {
    return new ImageBytes(image, undefined);
  }

  /**
   * An image file. The buffer is allocated zero-filled, which the kernel
   * maps lazily, so untouched blocks cost no memory.
   */
  static fromFile(file: ImageFile): ImageBytes {
    return new ImageBytes(new Uint8Array(file.size), file);
  }

  static of(image: Uint8Array | ImageBytes): ImageBytes {
    return image instanceof ImageBytes ? image : ImageBytes.fromBytes(image);
  }

  /** True for an image given as bytes, false for a file read on demand. */
  get isInMemory(): boolean {
    return this.file === undefined;
  }

  get length(): number {
    return this.bytes.length;
  }

  /**
   * The whole image as one array, of which only the ranges passed to
   * `load` are guaranteed to hold the file's bytes. For parsers that read
   * through a ByteReader with `load` as its hook.
   */
  get sparse(): Uint8Array {
    return this.bytes;
  }

  /** Makes sure the bytes at [offset, offset + length) are loaded; ranges outside the image are ignored. */
  load(offset: number, length: number): void {
    if (this.file === undefined || this.loaded === undefined || length <= 0) return;
    const start = Math.max(0, offset);
    const end = Math.min(this.bytes.length, offset + length);
    for (let block = Math.floor(start / BLOCK_SIZE); block * BLOCK_SIZE < end; block++) {
      if (this.loaded[block] === 1) continue;
      const from = block * BLOCK_SIZE;
      this.file.readInto(this.bytes.subarray(from, Math.min(this.bytes.length, from + BLOCK_SIZE)), from);
      this.loaded[block] = 1;
    }
  }

  /** A view of the bytes at [offset, offset + length), loaded first; the range must lie inside the image. */
  view(offset: number, length: number): Uint8Array {
    this.load(offset, length);
    return this.bytes.subarray(offset, offset + length);
  }

  /**
   * Copies the `target.length` bytes at `offset` (inside the image) into
   * target, reading a file directly instead of loading the blocks.
   */
  copyRange(target: Uint8Array, offset: number): void {
    if (this.file === undefined) {
      target.set(this.bytes.subarray(offset, offset + target.length));
    } else {
      this.file.readInto(target, offset);
    }
  }
}
