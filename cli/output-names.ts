import { dirname, join } from "node:path";
import { sideFileNames } from "../attest/output-names.js";

export { imageStem } from "../attest/output-names.js";

/** Paths of the files that describe the image at `imagePath`, in its folder. */
export function sideFiles(imagePath: string): {
  buildRecord: string;
  attestation: string;
  servtdInfoHash: string;
} {
  const folder = dirname(imagePath);
  const names = sideFileNames(imagePath);
  return {
    buildRecord: join(folder, names.buildRecord),
    attestation: join(folder, names.attestation),
    servtdInfoHash: join(folder, names.servtdInfoHash),
  };
}
