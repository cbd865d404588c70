import { PublishError } from "./errors.js";

import {
  ATTESTATION_SUFFIX,
  BUILD_LOG_SUFFIX,
  BUILD_RECORD_SUFFIX,
  SERVTD_INFO_HASH_SUFFIX,
} from "../../attest/output-names.js";

export {
  ATTESTATION_SUFFIX,
  BUILD_RECORD_SUFFIX,
  imageStem,
  sideFileNames,
  type SideFileNames,
} from "../../attest/output-names.js";

const SIDE_SUFFIXES = [BUILD_RECORD_SUFFIX, ATTESTATION_SUFFIX, SERVTD_INFO_HASH_SUFFIX, BUILD_LOG_SUFFIX];

/** Checksum lists in coreutils `sha256sum` format that are published when present. */
export const CHECKSUM_FILES = ["SHA256SUMS", "SHA384SUMS", "SHA512SUMS"] as const;

/** True for a file that describes an image rather than being one: a side file or a checksum list. */
export function isDescriptionFile(name: string): boolean {
  return SIDE_SUFFIXES.some((suffix) => name.endsWith(suffix)) || (CHECKSUM_FILES as readonly string[]).includes(name);
}

/** Rejects a name that is not a plain file name, so joining it to a folder stays in that folder. */
export function checkFileName(name: string, what: string): string {
  if (name === "" || name === "." || name === ".." || /[/\\]/.test(name)) {
    throw new PublishError("folder-invalid", `${what} '${name}' is not a plain file name`);
  }
  return name;
}
