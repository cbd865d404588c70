/**
 * UEFI GUIDs in their on-disk form: the first three fields little-endian,
 * the last eight bytes in order (UEFI specification, EFI_GUID).
 */
const GUID_TEXT = /^([0-9a-f]{8})-([0-9a-f]{4})-([0-9a-f]{4})-([0-9a-f]{4})-([0-9a-f]{12})$/i;

export const GUID_SIZE = 16;

/** Encodes "0be92dc3-6221-4c98-87c1-8eeffd70de5a" to its 16 stored bytes. */
export function guidToBytes(text: string): Buffer {
  const match = GUID_TEXT.exec(text);
  if (match === null) throw new TypeError(`not a GUID: ${text}`);

  const [, data1, data2, data3, data4, data5] = match as unknown as string[];
  return Buffer.concat([
    Buffer.from(data1!, "hex").reverse(),
    Buffer.from(data2!, "hex").reverse(),
    Buffer.from(data3!, "hex").reverse(),
    Buffer.from(data4! + data5!, "hex"),
  ]);
}

/** Decodes 16 stored bytes to lowercase GUID text. */
export function bytesToGuid(bytes: Uint8Array): string {
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, GUID_SIZE);
  const data1 = Buffer.from(b.subarray(0, 4)).reverse().toString("hex");
  const data2 = Buffer.from(b.subarray(4, 6)).reverse().toString("hex");
  const data3 = Buffer.from(b.subarray(6, 8)).reverse().toString("hex");
  const rest = b.subarray(8, 16).toString("hex");
  return `${data1}-${data2}-${data3}-${rest.slice(0, 4)}-${rest.slice(4)}`;
}

export function guidEquals(bytes: Uint8Array, text: string): boolean {
  return Buffer.compare(Buffer.from(bytes.buffer, bytes.byteOffset, GUID_SIZE), guidToBytes(text)) === 0;
}
