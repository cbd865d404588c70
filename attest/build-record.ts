import { z } from "zod";

/**
 * The build record `NAME.build.json` that `migtd-repro build` writes next to
 * the firmware image: every input, pin and digest of one build, the
 * container's user and environment, timings and the image's measurements.
 * Attestations are made from it, so fields are only ever added, never
 * renamed or removed, within one schema version.
 */

export const BUILD_RECORD_SCHEMA =
  "https://migtd-repro.dev/schemas/build-record" as const;
export const BUILD_RECORD_VERSION = 1 as const;

const Sha256Hex = z.string().regex(/^[0-9a-f]{64}$/);
const Sha384Hex = z.string().regex(/^[0-9a-f]{96}$/);
const Hex48 = Sha384Hex;
const IsoTime = z.iso.datetime();

export const RecordTool = z.object({
  name: z.literal("migtd-repro"),
  version: z.string().min(1),
});

export const RecordRecipe = z.object({
  name: z.string().min(1),
  version: z.string().min(1),
  /** Path of the recipe file as given, or relative to the package for a bundled one. */
  path: z.string().min(1),
  /** SHA-256 of the recipe file's bytes. */
  sha256: Sha256Hex,
});

export const RecordSource = z.object({
  kind: z.enum(["dir", "git"]),
  /** Folder path or git URL. */
  uri: z.string().min(1),
  /** Checked-out commit (git only). */
  commit: z.string().regex(/^[0-9a-f]{40}$/).optional(),
  /** Tree object ID of that commit (git only). */
  tree: z.string().regex(/^[0-9a-f]{40}$/).optional(),
  /**
   * SHA-256 of the normalised source tar that is copied into the container:
   * entries sorted by path, owner set to the recipe's uid and gid, times set
   * to sourceDateEpoch, modes kept.
   */
  digest: Sha256Hex,
});

export const RecordInput = z.object({
  /** Base name of the file the user gave, or of the recipe's default. */
  file: z.string().min(1),
  /** Path of the file inside the container. */
  containerPath: z.string().startsWith("/"),
  sha256: Sha256Hex,
  sha384: Sha384Hex,
  size: z.number().int().nonnegative(),
});

export const RecordBuilder = z.object({
  /** The image reference the recipe names: pin, tag or both. */
  reference: z.string().min(1),
  /** Image ID the engine reports for the image that ran the build. */
  id: z.string().regex(/^sha256:[0-9a-f]{64}$/),
  pinned: z.boolean(),
  /**
   * Image source: "present" when the engine already had it, otherwise the
   * recipe part the pipeline made it from ("rootfs" or "dockerfile").
   */
  origin: z.enum(["present", "rootfs", "dockerfile"]),
});

export const RecordUser = z.object({
  name: z.string().min(1),
  uid: z.number().int().nonnegative(),
  gid: z.number().int().nonnegative(),
  home: z.string().startsWith("/"),
});

export const RecordPhase = z.object({
  name: z.string().min(1),
  command: z.array(z.string()).min(1),
  /** Docker network mode of the phase's container ("none" when off). */
  network: z.string().min(1),
  exitCode: z.number().int(),
  durationMs: z.number().nonnegative(),
  /** Full environment of this phase's container, when it differs from `env`. */
  env: z.record(z.string(), z.string()).optional(),
});

export const RecordOutput = z.object({
  /** Name of the file written in the output folder. */
  name: z.string().min(1),
  /** Path inside the container, relative to the source path. */
  path: z.string().min(1),
  size: z.number().int().nonnegative(),
  sha256: Sha256Hex,
  sha384: Sha384Hex,
  /** The measured firmware image. */
  image: z.boolean(),
});

export const RecordServtdInfo = z.object({
  attributes: z.string().regex(/^[0-9a-f]{16}$/),
  xfam: z.string().regex(/^[0-9a-f]{16}$/),
  mrconfigid: Hex48,
  mrowner: Hex48,
  mrownerconfig: Hex48,
});

export const RecordMeasurement = z.object({
  pageOrder: z.enum(["single-pass", "two-pass"]),
  servtdInfo: RecordServtdInfo,
  /** SERVTD_ATTR as a 0x-prefixed hexadecimal u64. */
  servtdAttr: z.string().regex(/^0x[0-9a-f]{1,16}$/),
  policyV2: z.boolean(),
  testDisableRaAndAcceptAll: z.boolean(),
  mrtd: Hex48,
  rtmr0: Hex48,
  rtmr1: Hex48,
  rtmr2: Hex48,
  rtmr3: Hex48,
  servtdInfoHash: Hex48,
  servtdHash: Hex48,
});

export const RecordReproducibility = z.object({
  /** Number of builds compared, the recorded one included. */
  builds: z.number().int().positive(),
  identical: z.boolean(),
  /** Conditions varied between builds, e.g. "hostname", "umask", "cpuset". */
  variations: z.array(z.string()),
  /** SHA-384 of the firmware image from each build, in build order. */
  imageSha384: z.array(Sha384Hex),
});

export const RecordTimings = z.object({
  started: IsoTime,
  finished: IsoTime,
  /** Phase name (and pipeline steps such as "source", "outputs") to milliseconds. */
  phasesMs: z.record(z.string(), z.number().nonnegative()),
});

export const BuildRecordSchema = z.object({
  schema: z.literal(BUILD_RECORD_SCHEMA),
  schemaVersion: z.literal(BUILD_RECORD_VERSION),
  /** Random ID, also the value of the containers' build label. */
  buildId: z.string().min(1),
  tool: RecordTool,
  recipe: RecordRecipe,
  source: RecordSource,
  inputs: z.record(z.string(), RecordInput),
  options: z.record(z.string(), z.union([z.string(), z.boolean()])),
  builder: RecordBuilder,
  user: RecordUser,
  sourcePath: z.string().startsWith("/"),
  sourceDateEpoch: z.number().int().nonnegative(),
  /** The full container environment, in the order passed to the engine. */
  env: z.record(z.string(), z.string()),
  phases: z.array(RecordPhase).min(1),
  outputs: z.array(RecordOutput).min(1),
  measurement: RecordMeasurement,
  reproducibility: RecordReproducibility,
  timings: RecordTimings,
  /** True when the recipe or builder image was not pinned (--allow-unpinned). */
  unpinned: z.boolean(),
});

export type BuildRecord = z.infer<typeof BuildRecordSchema>;
export type RecordMeasurementValue = z.infer<typeof RecordMeasurement>;
export type RecordOutputValue = z.infer<typeof RecordOutput>;
export type RecordPhaseValue = z.infer<typeof RecordPhase>;
