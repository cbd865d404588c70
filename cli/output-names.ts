import { basename, dirname, join } from "node:path";

/**
 * Returns the NAME of the files written beside an image: its file name
 * without the last extension, so migtd.bin has migtd.build.json,
 * migtd.intoto.jsonl and migtd.servtd_info_hash next to it.
 */
export function imageStem(imagePath: string): string {
  const base = basename(imagePath);
  const dot = base.lastIndexOf(".");
  return dot > 0 ? base.slice(0, dot) : base;
}

/** Paths of the files that describe the image at `imagePath`. */
export function sideFiles(imagePath: string): {
  buildRecord: string;
  attestation: string;
  servtdInfoHash: string;
} {
  const stem = join(dirname(imagePath), imageStem(imagePath));
  return {
    buildRecord: `${stem}.build.json`,
    attestation: `${stem}.intoto.jsonl`,
    servtdInfoHash: `${stem}.servtd_info_hash`,
  };
}
