import { cfvSection, readCfvFiles } from "./firmware-volume.js";
import { hashImage } from "./hash-image.js";
import { computeMrtd } from "./mrtd.js";
import { ReproError } from "./errors.js";
import { UPSTREAM_DEFAULT_SERVTD_INFO } from "./servtd-info.js";
import { parseTdMetadata, type TdMetadata } from "./td-metadata.js";

/** A named part of an image: a TDVF section's raw data, a CFV file, the metadata. */
export interface ImageRegion {
  kind: "section" | "cfv-header" | "cfv-file-header" | "cfv-file-data" | "metadata" | "locator";
  /** For people: "TDVF section 0 (BFV)", "CFV file 0be92dc3-... (MigTD migration policy) data". */
  label: string;
  start: number;
  end: number;
  /** Guest physical address of `start`, for TDVF sections. */
  memoryAddress?: bigint;
}

export interface DiffLocation {
  kind: ImageRegion["kind"];
  label: string;
  /** Offset of the range's start inside the region (the payload, the file data). */
  offset: number;
  memoryAddress?: bigint;
}

export interface DiffRange {
  start: number;
  /** Exclusive. */
  end: number;
  /** Only one image has these bytes, because the sizes differ. */
  onlyIn?: "a" | "b";
  locations: DiffLocation[];
}

export interface MeasurementComparison {
  a: string | null;
  b: string | null;
  /** Why a value is null: the image could not be measured. */
  errorA?: string;
  errorB?: string;
  differs: boolean;
}

export interface ImageDiff {
  identical: boolean;
  sizeA: number;
  sizeB: number;
  differingBytes: number;
  /** All differing ranges, also those beyond `ranges` when it is truncated. */
  rangeCount: number;
  ranges: DiffRange[];
  /**
   * Image whose TD metadata mapped offsets to regions: "a" when A's could be
   * parsed (regions only B has are added and labelled "in B"), else "b", or
   * null when neither image has valid metadata.
   */
  layoutFrom: "a" | "b" | null;
  mrtd: MeasurementComparison;
  servtdInfoHash: MeasurementComparison;
}

/** Differing runs closer than this are reported as one range. */
const RANGE_MERGE_GAP = 64;
const COMPARE_BLOCK = 4096;
const DEFAULT_MAX_RANGES = 1000;

/**
 * Compares two TD images byte by byte and maps each differing range to the
 * TDVF sections, CFV files and metadata it falls in, with the offset inside
 * each. MRTD (single-pass) and SERVTD_INFO_HASH use migtd-hash's defaults
 * (upstream servtd_info.json, policy v1, SERVTD_ATTR 0).
 */
export function diffImages(
  a: Uint8Array,
  b: Uint8Array,
  options: { maxRanges?: number } = {},
): ImageDiff {
  const runs = differingRuns(a, b);
  const layoutA = tryLayout(a);
  const layoutB = tryLayout(b);
  const regions = combineLayouts(layoutA, layoutB);
  const ranges = runs.flatMap((run) => splitAtRegions(run, regions));
  const maxRanges = options.maxRanges ?? DEFAULT_MAX_RANGES;

  const mrtd = compare(a, b, (image) => computeMrtd(image, parseTdMetadata(image), "single-pass"));
  const servtdInfoHash = compare(
    a,
    b,
    (image) => hashImage(image, { servtdInfo: UPSTREAM_DEFAULT_SERVTD_INFO }).servtdInfoHash,
  );

  return {
    identical: runs.length === 0,
    sizeA: a.length,
    sizeB: b.length,
    differingBytes: runs.reduce((sum, run) => sum + run.differing, 0),
    rangeCount: ranges.length,
    ranges: ranges.slice(0, maxRanges),
    layoutFrom: layoutSource(layoutA, layoutB),
    mrtd,
    servtdInfoHash,
  };
}

interface Run {
  start: number;
  end: number;
  differing: number;
  onlyIn?: "a" | "b";
}

function differingRuns(a: Uint8Array, b: Uint8Array): Run[] {
  const runs: Run[] = [];
  const common = Math.min(a.length, b.length);
  const bufferA = Buffer.from(a.buffer, a.byteOffset, a.length);
  const bufferB = Buffer.from(b.buffer, b.byteOffset, b.length);
  let current: Run | null = null;

  for (let block = 0; block < common; block += COMPARE_BLOCK) {
    const end = Math.min(block + COMPARE_BLOCK, common);
    if (bufferA.compare(bufferB, block, end, block, end) === 0) continue;

    for (let i = block; i < end; i++) {
      if (a[i] === b[i]) continue;
      if (current !== null && i - current.end < RANGE_MERGE_GAP) {
        current.end = i + 1;
        current.differing++;
      } else {
        current = { start: i, end: i + 1, differing: 1 };
        runs.push(current);
      }
    }
  }

  if (a.length !== b.length) {
    const longer = a.length > b.length ? "a" : "b";
    runs.push({ start: common, end: Math.max(a.length, b.length), differing: Math.abs(a.length - b.length), onlyIn: longer });
  }
  return runs;
}

/**
 * A's regions, plus B's where B differs (an enrolled CFV with other files):
 * a region present in only one image is labelled with that image.
 */
function combineLayouts(layoutA: ImageRegion[] | null, layoutB: ImageRegion[] | null): ImageRegion[] {
  if (layoutA === null || layoutB === null) return layoutA ?? layoutB ?? [];

  const key = (region: ImageRegion) => `${region.label}@${region.start}-${region.end}`;
  const keysA = new Set(layoutA.map(key));
  const keysB = new Set(layoutB.map(key));
  return [
    ...layoutA.map((region) => (keysB.has(key(region)) ? region : { ...region, label: `${region.label} in A` })),
    ...layoutB.filter((region) => !keysA.has(key(region))).map((region) => ({ ...region, label: `${region.label} in B` })),
  ];
}

function layoutSource(layoutA: ImageRegion[] | null, layoutB: ImageRegion[] | null): "a" | "b" | null {
  if (layoutA !== null) return "a";
  if (layoutB !== null) return "b";
  return null;
}

function splitAtRegions(run: Run, regions: ImageRegion[]): DiffRange[] {
  const cuts = new Set<number>([run.start, run.end]);
  for (const region of regions) {
    if (region.start > run.start && region.start < run.end) cuts.add(region.start);
    if (region.end > run.start && region.end < run.end) cuts.add(region.end);
  }
  const points = [...cuts].sort((x, y) => x - y);

  const pieces: DiffRange[] = [];
  for (let i = 0; i + 1 < points.length; i++) {
    const start = points[i]!;
    const piece: DiffRange = { start, end: points[i + 1]!, locations: locate(start, regions) };
    if (run.onlyIn !== undefined) piece.onlyIn = run.onlyIn;
    pieces.push(piece);
  }
  return pieces;
}

function locate(offset: number, regions: ImageRegion[]): DiffLocation[] {
  return regions
    .filter((region) => offset >= region.start && offset < region.end)
    .map((region) => {
      const location: DiffLocation = { kind: region.kind, label: region.label, offset: offset - region.start };
      if (region.memoryAddress !== undefined) location.memoryAddress = region.memoryAddress + BigInt(location.offset);
      return location;
    });
}

function tryLayout(image: Uint8Array): ImageRegion[] | null {
  let metadata: TdMetadata;
  try {
    metadata = parseTdMetadata(image);
  } catch (error) {
    if (error instanceof ReproError) return null;
    throw error;
  }
  return [...metadataRegions(metadata), ...cfvRegions(image, metadata)];
}

/** Lists the regions an image's TD metadata describes, in file order. */
export function metadataRegions(metadata: TdMetadata): ImageRegion[] {
  const regions: ImageRegion[] = [
    { kind: "locator", label: metadata.layout === "td-shim" ? "td-shim metadata pointer" : "OVMF GUID table TDX metadata offset", start: metadata.locatorOffset, end: metadata.locatorOffset + 4 },
    { kind: "metadata", label: "TDX metadata GUID and TDVF descriptor", start: metadata.descriptorOffset - 16, end: metadata.descriptorOffset + metadata.descriptorLength },
  ];
  for (const section of metadata.sections) {
    if (section.rawDataSize === 0) continue;
    regions.push({
      kind: "section",
      label: `TDVF section ${section.index} (${section.typeName})`,
      start: section.dataOffset,
      end: section.dataOffset + section.rawDataSize,
      memoryAddress: section.memoryAddress,
    });
  }
  return regions;
}

function cfvRegions(image: Uint8Array, metadata: TdMetadata): ImageRegion[] {
  let files;
  try {
    files = readCfvFiles(image, metadata);
  } catch (error) {
    if (error instanceof ReproError) return [];
    throw error;
  }

  const cfv = cfvSection(metadata);
  const regions: ImageRegion[] = [
    { kind: "cfv-header", label: "CFV firmware volume header", start: cfv.dataOffset, end: files[0]?.offset ?? cfv.dataOffset },
  ];
  for (const file of files) {
    const name = `CFV file ${file.guid}${file.knownName ? ` (${file.knownName})` : ""}`;
    const dataStart = file.offset + file.headerSize;
    regions.push({ kind: "cfv-file-header", label: `${name} header`, start: file.offset, end: dataStart });
    regions.push({ kind: "cfv-file-data", label: `${name} data`, start: dataStart, end: dataStart + file.size });
  }
  return regions.filter((region) => region.end > region.start);
}

function compare(a: Uint8Array, b: Uint8Array, measure: (image: Uint8Array) => Buffer): MeasurementComparison {
  const resultA = tryMeasure(a, measure);
  const resultB = tryMeasure(b, measure);
  const comparison: MeasurementComparison = {
    a: resultA.value,
    b: resultB.value,
    differs: resultA.value !== resultB.value,
  };
  if (resultA.error !== undefined) comparison.errorA = resultA.error;
  if (resultB.error !== undefined) comparison.errorB = resultB.error;
  return comparison;
}

function tryMeasure(image: Uint8Array, measure: (image: Uint8Array) => Buffer): { value: string | null; error?: string } {
  try {
    return { value: measure(image).toString("hex") };
  } catch (error) {
    if (error instanceof ReproError) return { value: null, error: error.message };
    throw error;
  }
}
