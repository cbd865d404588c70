import { ReproError } from "./errors.js";

/** Stable codes for every way an image, a CFV or a servtd_info file is rejected. */
export type MeasureErrorCode =
  | "image-truncated"
  | "no-metadata"
  | "metadata-ambiguous"
  | "locator-out-of-range"
  | "metadata-guid"
  | "metadata-descriptor"
  | "section-invalid"
  | "section-out-of-range"
  | "split-firmware"
  | "measure-limit"
  | "cfv-missing"
  | "cfv-invalid"
  | "cfv-file-missing"
  | "enroll-invalid"
  | "servtd-info-invalid"
  | "unsupported-format";

/** An image or measurement input that cannot be measured as given. */
export class MeasureError extends ReproError<MeasureErrorCode> {
  readonly kind = "invalid-input" as const;
}

/** Formats a number or bigint as 0x-prefixed lowercase hex, for messages. */
export function hex(value: number | bigint): string {
  return `0x${value.toString(16)}`;
}
