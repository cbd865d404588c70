import { posix } from "node:path";

/**
 * Names of the files that `build` and `attest` write beside an image
 * NAME.EXT, where NAME is the image's file name without its last extension:
 * migtd.bin has migtd.build.json, migtd.intoto.jsonl,
 * migtd.servtd_info_hash and migtd.build.log next to it.
 */
export interface SideFileNames {
  buildRecord: string;
  attestation: string;
  servtdInfoHash: string;
  buildLog: string;
}

export const BUILD_RECORD_SUFFIX = ".build.json";
export const ATTESTATION_SUFFIX = ".intoto.jsonl";
export const SERVTD_INFO_HASH_SUFFIX = ".servtd_info_hash";
export const BUILD_LOG_SUFFIX = ".build.log";

/** Strips the image file name's folder and last extension: `out/migtd.bin` gives `migtd`. */
export function imageStem(imageName: string): string {
  const base = posix.basename(imageName.replaceAll("\\", "/"));
  const dot = base.lastIndexOf(".");
  return dot > 0 ? base.slice(0, dot) : base;
}

/** File names, without a folder, of what describes the image `imageName`. */
export function sideFileNames(imageName: string): SideFileNames {
  const stem = imageStem(imageName);
  return {
    buildRecord: stem + BUILD_RECORD_SUFFIX,
    attestation: stem + ATTESTATION_SUFFIX,
    servtdInfoHash: stem + SERVTD_INFO_HASH_SUFFIX,
    buildLog: stem + BUILD_LOG_SUFFIX,
  };
}
