import { z } from "zod";
import { MAX_TIMEOUT_SECONDS } from "./limits.js";

/**
 * A guest recipe: everything that defines how one firmware is built. It is a
 * JSON file under `guest/<name>/recipe.json`; relative paths in it are
 * relative to the recipe's folder.
 */

/** Builder image pin: a local image ID or a registry reference by digest. */
export const ImagePin = z
  .string()
  .regex(
    /^(sha256:[0-9a-f]{64}|[a-z0-9][a-z0-9._\/:-]*@sha256:[0-9a-f]{64})$/,
    "must be a local image ID 'sha256:<64 hex>' or 'NAME@sha256:<64 hex>'",
  );

/** A root file system made with debootstrap from Debian's packages. */
export const RootfsRecipe = z.strictObject({
  suite: z.string().min(1),
  variant: z.string().default("minbase"),
  mirror: z.string().url(),
  /** Package name to exact Debian version; the build rejects other versions. */
  packages: z.record(z.string(), z.string()),
  /** File times in the image are set to this (seconds since the epoch). */
  sourceDateEpoch: z.number().int().nonnegative(),
});

/** A Dockerfile the pipeline builds and then pins by the resulting ID. */
export const DockerfileRecipe = z.strictObject({
  dockerfile: z.string().min(1),
  context: z.string().min(1),
  buildArgs: z.record(z.string(), z.string()).default({}),
  /**
   * Files copied from the checked-out source into the build context, source
   * path to context path, so that the image follows the source (e.g. its
   * rust-toolchain file).
   */
  sourceFiles: z.record(z.string(), z.string()).optional(),
  /** Checksum lock that every download made by the image build is checked against. */
  checksumLock: z
    .strictObject({
      /** Lock file (lines `<sha256>  <url>`), relative to the recipe's folder. */
      file: z.string().min(1),
      /** Build argument that selects `enforce` (default) or `write`. */
      modeArg: z.string().regex(/^[A-Z_][A-Z0-9_]*$/),
      /** Build target whose only file is the updated lock, for `--output`. */
      exportTarget: z.string().min(1),
    })
    .optional(),
});

export const BuilderSpec = z.strictObject({
  /** Expected image ID or digest; absent means unpinned. */
  image: ImagePin.optional(),
  /** Name:tag given to the image when the pipeline makes it. */
  tag: z.string().min(1),
  rootfs: RootfsRecipe.optional(),
  dockerfile: DockerfileRecipe.optional(),
});

export const UserSpec = z.strictObject({
  name: z.string().regex(/^[a-z_][a-z0-9_-]*$/),
  uid: z.number().int().nonnegative(),
  gid: z.number().int().nonnegative(),
  home: z.string().startsWith("/"),
});

export const SourceSpec = z.union([
  /** A folder shipped with the recipe, relative to the recipe's folder. */
  z.strictObject({ dir: z.string().min(1) }),
  /** A git repository at an exact commit (40 hex digits). */
  z.strictObject({
    git: z.string().min(1),
    rev: z.string().regex(/^[0-9a-f]{40}$/, "must be a full 40-digit commit"),
    submodules: z.boolean().default(true),
    /** Tag the commit was released as; checked to point at `rev`. */
    tag: z.string().min(1).optional(),
    /** Send `.git` folders into the container, for scripts that run git. */
    keepGitMetadata: z.boolean().optional(),
  }),
]);

export const PhaseSpec = z.strictObject({
  name: z.string().regex(/^[a-z][a-z0-9-]*$/),
  /** argv run in the source path; no shell unless the recipe names one. */
  command: z.array(z.string()).min(1),
  /** Only a fetch phase may have networking; build phases run with none. */
  network: z.boolean().default(false),
  /** Extra environment of this phase only. */
  env: z.record(z.string(), z.string()).optional(),
  /** Append the options' and inputs' `flag` arguments to `command`. */
  optionArgs: z.boolean().optional(),
});

/** A file the user may replace, e.g. the migration policy or root CA. */
export const InputSpec = z.strictObject({
  description: z.string(),
  /** Default file, relative to the recipe's folder; absent means required. */
  default: z.string().optional(),
  /** Where the file is placed inside the container (absolute). */
  path: z.string().startsWith("/"),
  /** Checked before the build: the policy must parse as JSON. */
  format: z.enum(["json", "binary"]).default("binary"),
  /** Flag added with the container path when the input is set. */
  flag: z.string().regex(/^--?[a-z][a-z0-9-]*$/).optional(),
  /**
   * File in the source tree that the build reads when no file is given; the
   * input is then optional and its flag is left out.
   */
  sourceDefault: z.string().optional(),
  /** Boolean option that makes this input required when true. */
  requiredWhen: z.string().optional(),
  /** Boolean option without which this input is rejected. */
  onlyWhen: z.string().optional(),
});

/**
 * A build option, passed to every phase as an environment variable: a
 * boolean as "1" or "0", a string as given.
 */
export const OptionSpec = z.strictObject({
  description: z.string(),
  type: z.enum(["boolean", "string"]),
  default: z.union([z.boolean(), z.string()]),
  env: z.string().regex(/^[A-Z_][A-Z0-9_]*$/),
  /** Allowed values for a string option. */
  choices: z.array(z.string()).optional(),
  /**
   * Flag for phases with `optionArgs`: a boolean adds it when true, a string
   * adds it and its value when the value is not empty.
   */
  flag: z.string().regex(/^--?[a-z][a-z0-9-]*$/).optional(),
});

export const OutputSpec = z.strictObject({
  /** Path relative to the source path inside the container. */
  path: z.string().min(1),
  /** The firmware image that is measured; exactly one output has it. */
  image: z.boolean().default(false),
  /** Largest accepted size in bytes. */
  maxBytes: z.number().int().positive().default(64 * 1024 * 1024),
  /**
   * Paths used instead of `path` for some option values: the first entry
   * whose `when` values all match the build's options wins.
   */
  pathWhen: z
    .array(
      z.strictObject({
        when: z.record(z.string(), z.union([z.boolean(), z.string()])),
        path: z.string().min(1),
      }),
    )
    .optional(),
});

export const MeasureSpec = z.strictObject({
  /** servtd_info.json path relative to the recipe; default: the package's. */
  servtdInfo: z.string().optional(),
  policyV2: z.boolean().default(false),
  testDisableRaAndAcceptAll: z.boolean().default(false),
  pageOrder: z.enum(["single-pass", "two-pass"]).default("single-pass"),
  /** Flags that follow from build options, overriding the fixed values. */
  fromOptions: z
    .strictObject({
      /** Boolean option whose value is policyV2. */
      policyV2: z.string().optional(),
      /** Comma-separated list option; the flag is set when it has `item`. */
      testDisableRaAndAcceptAll: z
        .strictObject({ option: z.string(), item: z.string() })
        .optional(),
    })
    .optional(),
});

/** A named set of option values and source-tree input files. */
export const PresetSpec = z.strictObject({
  description: z.string(),
  options: z.record(z.string(), z.union([z.boolean(), z.string()])).default({}),
  /** Input name to a file path in the source tree. */
  sourceInputs: z.record(z.string(), z.string()).default({}),
});

/** Resource limits of each build container; absent means no limit. */
export const LimitsSpec = z.strictObject({
  memoryBytes: z.number().int().positive().optional(),
  /** CPUs as a decimal count, e.g. 1.5. */
  cpus: z.number().positive().optional(),
});

export const RecipeSchema = z.strictObject({
  name: z.string().regex(/^[a-z][a-z0-9-]*$/),
  version: z.string().min(1),
  description: z.string(),
  builder: BuilderSpec,
  user: UserSpec,
  /** The fixed source path inside the container. */
  sourcePath: z.string().startsWith("/"),
  source: SourceSpec,
  env: z.record(z.string(), z.string()).default({}),
  /** Used when the source has no commit time (a folder). */
  sourceDateEpoch: z.number().int().nonnegative(),
  phases: z.array(PhaseSpec).min(1),
  inputs: z.record(z.string(), InputSpec).default({}),
  options: z.record(z.string(), OptionSpec).default({}),
  outputs: z.array(OutputSpec).min(1),
  presets: z.record(z.string(), PresetSpec).optional(),
  /**
   * Container paths kept from one phase to the next, e.g. Cargo's registry;
   * absolute once `${HOME}` is replaced by the build user's home.
   */
  persist: z.array(z.string().regex(/^(\/|\$\{HOME\}\/)/)).optional(),
  limits: LimitsSpec.default({}),
  /** Time limit for all phases of one build together, in seconds. */
  timeoutSeconds: z.number().int().positive().max(MAX_TIMEOUT_SECONDS).default(3600),
  measure: MeasureSpec.default({
    policyV2: false,
    testDisableRaAndAcceptAll: false,
    pageOrder: "single-pass",
  }),
});

export type Recipe = z.infer<typeof RecipeSchema>;
