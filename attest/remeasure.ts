import { hashImage, imageHashesToHex } from "./hash-image.js";
import type { ImageBytes } from "./image-bytes.js";
import { MEASUREMENT_FIELDS, type TdMeasurementPredicate } from "./predicates.js";
import { parseServtdInfo } from "./servtd-info.js";

export type MeasurementValues = Record<(typeof MEASUREMENT_FIELDS)[number], string>;

/** Display names of the measurement fields, as the TDX module spells them. */
export const MEASUREMENT_NAMES: MeasurementValues = {
  mrtd: "MRTD",
  rtmr0: "RTMR0",
  rtmr1: "RTMR1",
  rtmr2: "RTMR2",
  rtmr3: "RTMR3",
  servtdInfoHash: "SERVTD_INFO_HASH",
  servtdHash: "SERVTD_HASH",
};

/**
 * Measures `image` with the parameters of a TD measurement predicate and
 * returns the values it should attest, as lowercase hex.
 */
export function remeasure(
  image: Uint8Array | ImageBytes,
  parameters: Omit<TdMeasurementPredicate, (typeof MEASUREMENT_FIELDS)[number]>,
): MeasurementValues {
  const hashes = hashImage(image, {
    servtdInfo: parseServtdInfo(parameters.servtdInfo, "the attested servtdInfo"),
    policyV2: parameters.policyV2,
    testDisableRaAndAcceptAll: parameters.testDisableRaAndAcceptAll,
    servtdAttr: BigInt(parameters.servtdAttr),
    pageOrder: parameters.pageOrder,
  });

  return imageHashesToHex(hashes);
}

/** Lists "NAME attested X, image gives Y" for each field that differs. */
export function measurementDifferences(
  claimed: MeasurementValues,
  computed: MeasurementValues,
  claimedBy = "attested",
): string[] {
  return MEASUREMENT_FIELDS.filter((field) => claimed[field] !== computed[field]).map(
    (field) => `${MEASUREMENT_NAMES[field]} ${claimedBy} ${claimed[field]}, image gives ${computed[field]}`,
  );
}
