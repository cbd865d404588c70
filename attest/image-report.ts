import { createHash } from "node:crypto";
import { ReproError } from "./errors.js";
import {
  MIGTD_FILE_GUIDS,
  parseFirmwareVolumeHeader,
  readCfvFiles,
  type CfvFile,
} from "./firmware-volume.js";
import { computeMigtdRtmrs, fileDigests } from "./hash-image.js";
import { hex } from "./measure-error.js";
import { computeMrtd, PAGE_ORDERS, type PageOrder } from "./mrtd.js";
import {
  describeAttributes,
  parseTdMetadata,
  SECTION_TYPE,
  type MetadataLayout,
  type TdMetadata,
} from "./td-metadata.js";

export interface SectionReport {
  index: number;
  type: number;
  typeName: string;
  dataOffset: number;
  rawDataSize: number;
  memoryAddress: bigint;
  memoryDataSize: bigint;
  attributes: number;
  attributeNames: string;
}

export interface CfvFileReport {
  guid: string;
  knownName: string | null;
  type: number;
  offset: number;
  size: number;
  sha384: string;
}

export interface CfvReport {
  offset: number;
  size: number;
  /** Reason the CFV is not a firmware volume, or null when it is one. */
  error: string | null;
  fileSystemGuid: string | null;
  files: CfvFileReport[];
}

export interface MigtdRtmrReport {
  /** 2 when the CFV contains a policy issuer chain and no root CA. */
  policyVersion: 1 | 2;
  rtmr: [string, string, string, string];
}

export interface ImageReport {
  size: number;
  sha256: string;
  sha384: string;
  layout: MetadataLayout;
  locatorOffset: number;
  descriptorOffset: number;
  sections: SectionReport[];
  mrtd: Record<PageOrder, string>;
  cfv: CfvReport | null;
  /** MigTD's RTMRs, when the CFV contains a MigTD policy. */
  migtdRtmrs: MigtdRtmrReport | null;
}

/**
 * Everything `measure` shows about an image: the metadata, MRTD in both
 * page orders, the CFV files and, for MigTD images, the RTMRs. Throws
 * MeasureError when the metadata is invalid; a CFV that is not a firmware
 * volume is reported, not thrown, because only MigTD needs one.
 */
export function inspectImage(image: Uint8Array): ImageReport {
  const metadata = parseTdMetadata(image);
  const cfv = inspectCfv(image, metadata);
  const mrtd = Object.fromEntries(
    PAGE_ORDERS.map((order) => [order, computeMrtd(image, metadata, order).toString("hex")]),
  ) as Record<PageOrder, string>;

  return {
    size: image.length,
    ...fileDigests(image),
    layout: metadata.layout,
    locatorOffset: metadata.locatorOffset,
    descriptorOffset: metadata.descriptorOffset,
    sections: metadata.sections.map(({ entryOffset: _, ...section }) => ({
      ...section,
      attributeNames: describeAttributes(section.attributes),
    })),
    mrtd,
    cfv: cfv?.report ?? null,
    migtdRtmrs: cfv === null ? null : migtdRtmrs(cfv.files),
  };
}

function inspectCfv(image: Uint8Array, metadata: TdMetadata): { report: CfvReport; files: CfvFile[] } | null {
  const section = metadata.sections.find((s) => s.type === SECTION_TYPE.cfv && s.rawDataSize > 0);
  if (section === undefined) return null;

  const report: CfvReport = { offset: section.dataOffset, size: section.rawDataSize, error: null, fileSystemGuid: null, files: [] };
  try {
    const cfv = image.subarray(section.dataOffset, section.dataOffset + section.rawDataSize);
    report.fileSystemGuid = parseFirmwareVolumeHeader(cfv, section.dataOffset).fileSystemGuid;
    const files = readCfvFiles(image, metadata);
    report.files = files.map(fileReport);
    return { report, files };
  } catch (error) {
    if (!(error instanceof ReproError)) throw error;
    report.error = error.message;
    return { report, files: [] };
  }
}

function fileReport(file: CfvFile): CfvFileReport {
  return {
    guid: file.guid,
    knownName: file.knownName,
    type: file.type,
    offset: file.offset,
    size: file.size,
    sha384: createHash("sha384").update(file.data).digest("hex"),
  };
}

function migtdRtmrs(files: CfvFile[]): MigtdRtmrReport | null {
  const has = (guid: string) => files.some((file) => file.guid === guid);
  if (!has(MIGTD_FILE_GUIDS.policy)) return null;

  const policyV2 = has(MIGTD_FILE_GUIDS.policyIssuerChain) && !has(MIGTD_FILE_GUIDS.rootCa);
  if (!policyV2 && !has(MIGTD_FILE_GUIDS.rootCa)) return null;

  const rtmr = computeMigtdRtmrs(files, { policyV2 }).map((value) => value.toString("hex"));
  return { policyVersion: policyV2 ? 2 : 1, rtmr: rtmr as MigtdRtmrReport["rtmr"] };
}

/** Returns the page orders whose MRTD equals `expected` (hex, any case), or none. */
export function matchingPageOrders(report: ImageReport, expected: string): PageOrder[] {
  return PAGE_ORDERS.filter((order) => report.mrtd[order] === expected.toLowerCase());
}

/** Formats a section's file and GPA ranges as "start-end" hex, end exclusive. */
export function sectionRanges(section: SectionReport): { file: string; memory: string } {
  return {
    file: section.rawDataSize === 0 ? "-" : `${hex(section.dataOffset)}-${hex(section.dataOffset + section.rawDataSize)}`,
    memory: section.memoryDataSize === 0n ? "-" : `${hex(section.memoryAddress)}-${hex(section.memoryAddress + section.memoryDataSize)}`,
  };
}
