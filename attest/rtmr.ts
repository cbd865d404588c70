import { createHash } from "node:crypto";

export const SHA384_SIZE = 48;

/** RTMR extend (TDG.MR.RTMR.EXTEND as MigTD logs it): SHA384(old || SHA384(data)). */
export function extendRtmr(register: Uint8Array, data: Uint8Array): Buffer {
  const digest = createHash("sha384").update(data).digest();
  return createHash("sha384").update(register).update(digest).digest();
}

export function zeroRegister(): Buffer {
  return Buffer.alloc(SHA384_SIZE);
}
