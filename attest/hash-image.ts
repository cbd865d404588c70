import { createHash } from "node:crypto";
import { MIGTD_FILE_GUIDS, readCfvFiles, requireRawFile, type CfvFile } from "./firmware-volume.js";
import { ImageBytes } from "./image-bytes.js";
import { hex, MeasureError } from "./measure-error.js";
import { computeMrtd, type PageOrder } from "./mrtd.js";
import { extendRtmr, zeroRegister } from "./rtmr.js";
import type { ServtdInfo } from "./servtd-info.js";
import { computeServtdHash, maskTdInfo, packTdInfo, type TdInfoFields } from "./td-info.js";
import { parseTdMetadata, type TdMetadata } from "./td-metadata.js";

/** Options of migtd-hash (MigTD tools/migtd-hash), plus the page order. */
export interface HashOptions {
  servtdInfo: ServtdInfo;
  /** The image was built with MigTD's policy_v2 feature. */
  policyV2?: boolean;
  /** The image was built with MigTD's test_disable_ra_and_accept_all feature. */
  testDisableRaAndAcceptAll?: boolean;
  /** SERVTD_ATTR, a u64; bits 32..41 zero TD_INFO fields. Default 0. */
  servtdAttr?: bigint;
  pageOrder?: PageOrder;
}

/**
 * The TD_INFO registers as migtd-hash reports them: after the SERVTD_ATTR
 * mask, so an ignored field is zero here too (migtd-hash writes the masked
 * values to --output-td-info and --update-tcb-mapping as well).
 */
export interface ImageHashes {
  mrtd: Buffer;
  rtmr: [Buffer, Buffer, Buffer, Buffer];
  tdInfo: Buffer;
  servtdInfoHash: Buffer;
  servtdHash: Buffer;
}

/** MRTD, RTMR0-3, SERVTD_INFO_HASH and SERVTD_HASH as lowercase hex. */
export interface ImageHashesHex {
  mrtd: string;
  rtmr0: string;
  rtmr1: string;
  rtmr2: string;
  rtmr3: string;
  servtdInfoHash: string;
  servtdHash: string;
}

/** Converts measurement results to the lowercase hex that records and attestations carry. */
export function imageHashesToHex(hashes: ImageHashes): ImageHashesHex {
  const [rtmr0, rtmr1, rtmr2, rtmr3] = hashes.rtmr;
  return {
    mrtd: hashes.mrtd.toString("hex"),
    rtmr0: rtmr0.toString("hex"),
    rtmr1: rtmr1.toString("hex"),
    rtmr2: rtmr2.toString("hex"),
    rtmr3: rtmr3.toString("hex"),
    servtdInfoHash: hashes.servtdInfoHash.toString("hex"),
    servtdHash: hashes.servtdHash.toString("hex"),
  };
}

/** MigTD's event for the RA-disabled test build (MigTD event_log.rs). */
export const TEST_DISABLE_RA_AND_ACCEPT_ALL_EVENT = Buffer.from("test_disable_ra_and_accept_all", "latin1");

const U64_MAX = (1n << 64n) - 1n;

/**
 * Computes SERVTD_INFO_HASH and SERVTD_HASH of a MigTD image the way
 * migtd-hash v0.7.1 does, except that the CFV is found through the TD
 * metadata rather than assumed at offset 0 with MigTD's layout size.
 */
export function hashImage(input: Uint8Array | ImageBytes, options: HashOptions): ImageHashes {
  const image = ImageBytes.of(input);
  const servtdAttr = options.servtdAttr ?? 0n;
  if (servtdAttr < 0n || servtdAttr > U64_MAX) {
    throw new MeasureError("servtd-info-invalid", `SERVTD_ATTR ${hex(servtdAttr)} does not fit in 64 bits`);
  }

  const metadata = parseTdMetadata(image);
  const fields = measureTdInfo(image, metadata, options);
  const masked = maskTdInfo(fields, servtdAttr);
  const tdInfo = packTdInfo(masked);
  const servtdInfoHash = createHash("sha384").update(tdInfo).digest();

  return {
    mrtd: masked.mrtd,
    rtmr: [masked.rtmr0, masked.rtmr1, masked.rtmr2, masked.rtmr3],
    tdInfo,
    servtdInfoHash,
    servtdHash: computeServtdHash(servtdInfoHash, servtdAttr),
  };
}

function measureTdInfo(image: ImageBytes, metadata: TdMetadata, options: HashOptions): TdInfoFields {
  // Like migtd-hash, the RA-disabled policy v1 build reads nothing from the CFV.
  const needsFiles = options.policyV2 === true || options.testDisableRaAndAcceptAll !== true;
  const files = needsFiles ? readCfvFiles(image, metadata) : [];
  const rtmrs = computeMigtdRtmrs(files, options);
  return {
    ...options.servtdInfo,
    mrtd: computeMrtd(image, metadata, options.pageOrder ?? "single-pass"),
    rtmr0: rtmrs[0],
    rtmr1: rtmrs[1],
    rtmr2: rtmrs[2],
    rtmr3: rtmrs[3],
  };
}

/**
 * The RTMRs migtd-hash predicts for a MigTD image:
 * - RTMR0 = RTMR1 = extend(zero, u32 LE 0), the separator event;
 * - policy v2 then extends RTMR1 with the policy issuer chain file;
 * - RTMR2 is extended with the policy file and, for policy v1, the root CA
 *   file, or only with "test_disable_ra_and_accept_all" for that build;
 * - RTMR3 stays zero.
 */
export function computeMigtdRtmrs(
  files: CfvFile[],
  options: Pick<HashOptions, "policyV2" | "testDisableRaAndAcceptAll">,
): [Buffer, Buffer, Buffer, Buffer] {
  const separator = extendRtmr(zeroRegister(), Buffer.alloc(4));

  let rtmr1 = separator;
  if (options.policyV2) {
    const chain = requireRawFile(files, MIGTD_FILE_GUIDS.policyIssuerChain, "policy issuer chain, needed with --policy-v2");
    rtmr1 = extendRtmr(rtmr1, chain);
  }

  let rtmr2 = zeroRegister();
  if (options.testDisableRaAndAcceptAll) {
    rtmr2 = extendRtmr(rtmr2, TEST_DISABLE_RA_AND_ACCEPT_ALL_EVENT);
  } else {
    rtmr2 = extendRtmr(rtmr2, requireRawFile(files, MIGTD_FILE_GUIDS.policy, "migration policy"));
    if (!options.policyV2) {
      rtmr2 = extendRtmr(rtmr2, requireRawFile(files, MIGTD_FILE_GUIDS.rootCa, "root CA, needed for policy v1"));
    }
  }

  return [separator, rtmr1, rtmr2, zeroRegister()];
}

/** sha256 and sha384 of a whole file, lowercase hex. */
export interface FileDigests {
  sha256: string;
  sha384: string;
}

// Bytes of an image file hashed at a time.
const DIGEST_CHUNK_SIZE = 1024 * 1024;

/** Computes sha256 and sha384 of the whole image. */
export function fileDigests(input: Uint8Array | ImageBytes): FileDigests {
  const [sha256, sha384] = imageDigests(input, ["sha256", "sha384"]);
  return { sha256: sha256!, sha384: sha384! };
}

/** Returns the lowercase hex digests of the whole image with each algorithm, in one pass over it. */
export function imageDigests(input: Uint8Array | ImageBytes, algorithms: readonly string[]): string[] {
  const image = ImageBytes.of(input);
  const hashes = algorithms.map((algorithm) => createHash(algorithm));
  if (image.isInMemory) {
    const bytes = image.view(0, image.length);
    for (const hash of hashes) hash.update(bytes);
  } else {
    const chunk = new Uint8Array(Math.min(DIGEST_CHUNK_SIZE, image.length));
    for (let offset = 0; offset < image.length; offset += chunk.length) {
      const part = chunk.subarray(0, Math.min(chunk.length, image.length - offset));
      image.copyRange(part, offset);
      for (const hash of hashes) hash.update(part);
    }
  }
  return hashes.map((hash) => hash.digest("hex"));
}
