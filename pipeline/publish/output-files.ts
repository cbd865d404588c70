import { PublishError } from "./errors.js";

/**
 * Names of the files `build` and `attest` write beside an image NAME.EXT:
 * NAME.build.json, NAME.intoto.jsonl, NAME.servtd_info_hash and
 * NAME.build.log, where NAME is the image's file name without its last
 * extension (migtd.bin has migtd.intoto.jsonl). cli/output-names.ts
 * applies the same rule when writing them.
 */
export interface SideFileNames {
  buildRecord: string;
  attestation: string;
  servtdInfoHash: string;
  buildLog: string;
}

export const BUILD_RECORD_SUFFIX = ".build.json";
export const ATTESTATION_SUFFIX = ".intoto.jsonl";
const SIDE_SUFFIXES = [BUILD_RECORD_SUFFIX, ATTESTATION_SUFFIX, ".servtd_info_hash", ".build.log"];

/** Checksum lists in coreutils `sha256sum` format that are published when present. */
export const CHECKSUM_FILES = ["SHA256SUMS", "SHA384SUMS", "SHA512SUMS"] as const;

/** Returns an image's file name without its last extension. */
export function imageStem(imageName: string): string {
  const dot = imageName.lastIndexOf(".");
  return dot > 0 ? imageName.slice(0, dot) : imageName;
}

export function sideFileNames(imageName: string): SideFileNames {
  const stem = imageStem(imageName);
  return {
    buildRecord: stem + BUILD_RECORD_SUFFIX,
    attestation: stem + ATTESTATION_SUFFIX,
    servtdInfoHash: `${stem}.servtd_info_hash`,
    buildLog: `${stem}.build.log`,
  };
}

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
