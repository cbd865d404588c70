// Public API of migtd-repro's measurement library: pure functions from image
// bytes to TD measurements, no file system, Docker or network access.
export { ByteReader } from "./byte-reader.js";
export {
  enrollCfv,
  enrollMigtdFiles,
  MAX_ENROLLED_FILE_SIZE,
  type EnrolledFile,
  type MigtdCfvFiles,
} from "./cfv-enroll.js";
export { ReproError, type ErrorKind } from "./errors.js";
export {
  cfvSection,
  MIGTD_FILE_GUIDS,
  parseFirmwareVolumeHeader,
  readCfvFiles,
  type CfvFile,
  type FirmwareVolumeHeader,
} from "./firmware-volume.js";
export { bytesToGuid, guidToBytes } from "./guid.js";
export {
  computeMigtdRtmrs,
  fileDigests,
  hashImage,
  imageHashesToHex,
  TEST_DISABLE_RA_AND_ACCEPT_ALL_EVENT,
  type HashOptions,
  type ImageHashes,
  type ImageHashesHex,
} from "./hash-image.js";
export { ImageBytes, type ImageFile } from "./image-bytes.js";
export {
  diffImages,
  metadataRegions,
  type DiffLocation,
  type DiffRange,
  type ImageDiff,
  type ImageRegion,
  type MeasurementComparison,
} from "./image-diff.js";
export {
  inspectImage,
  matchingPageOrders,
  sectionRanges,
  type CfvFileReport,
  type CfvReport,
  type ImageReport,
  type MigtdRtmrReport,
  type SectionReport,
} from "./image-report.js";
export { MeasureError, type MeasureErrorCode } from "./measure-error.js";
export { computeMrtd, MEASURE_LIMITS, mrtdInputSize, PAGE_ORDERS, type PageOrder } from "./mrtd.js";
export { extendRtmr } from "./rtmr.js";
export {
  parseServtdInfo,
  SERVTD_INFO_FIELD_SIZES,
  servtdInfoToJson,
  UPSTREAM_DEFAULT_SERVTD_INFO,
  type ServtdInfo,
} from "./servtd-info.js";
export { computeServtdHash, maskTdInfo, packTdInfo, SERVTD_TYPE_MIGTD, TD_INFO_SIZE, type TdInfoFields } from "./td-info.js";
export {
  describeAttributes,
  parseTdMetadata,
  SECTION_ATTRIBUTE,
  SECTION_TYPE,
  SECTION_TYPE_NAMES,
  TDX_METADATA_GUID,
  type MetadataLayout,
  type TdMetadata,
  type TdvfSection,
} from "./td-metadata.js";
