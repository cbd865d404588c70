import { readFileSync } from "node:fs";
import { packagePath } from "../../config/package-root.js";

/** Debian bookworm's OVMF.fd, see test/fixtures/ovmf-debian-bookworm/README.md. */
export function ovmfFixture(): Buffer {
  return readFileSync(packagePath("test", "fixtures", "ovmf-debian-bookworm", "OVMF.fd"));
}

/** MRTD of OVMF.fd from the fixture's README (td-shim's Python tool). */
export const OVMF_MRTD_SINGLE_PASS =
  "4c7206f0f483c524f12c366c711e9049030a8d47c471ee5aa9c4999a08de4057fb887fed0744d5631a212967fb231c47";

/**
 * Debian's OVMF_CODE.fd from the same package is byte for byte the last
 * 1,966,080 bytes of OVMF.fd (see the fixture README), so it is sliced.
 */
export function ovmfCodeFixture(): Buffer {
  const whole = ovmfFixture();
  return whole.subarray(whole.length - 1_966_080);
}
