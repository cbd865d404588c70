import {
  BUILD_RECORD_SCHEMA,
  BUILD_RECORD_VERSION,
  BuildRecordSchema,
  type BuildRecord,
  type RecordMeasurementValue,
} from "../attest/build-record.js";
import { packageVersion } from "../config/package-root.js";
import type { BuildOnceResult, BuildPlan } from "./build-once.js";
import type { BuilderImage } from "./builder.js";
import type { ResolvedInput } from "./parameters.js";
import type { LoadedRecipe } from "./recipe.js";
import type { PreparedSource } from "./source.js";
import type { PackedSource } from "./source-tar.js";

/** Everything resolved before the first container starts. */
export interface PreparedBuild {
  loaded: LoadedRecipe;
  unpinned: boolean;
  builder: BuilderImage;
  source: PreparedSource;
  packed: PackedSource;
  options: Record<string, string | boolean>;
  inputs: ResolvedInput[];
  plan: BuildPlan;
}

export interface RecordParts {
  buildId: string;
  prepared: PreparedBuild;
  builds: BuildOnceResult[];
  measurement: RecordMeasurementValue;
  reproducibility: BuildRecord["reproducibility"];
  started: Date;
  timings: Record<string, number>;
}

/**
 * Assembles the build record from the first build and checks it against
 * the schema, so a record that attestation code would reject is never
 * written.
 */
export function makeRecord(parts: RecordParts): BuildRecord {
  const { loaded, builder, source, packed, plan } = parts.prepared;
  const baseline = parts.builds[0]!;
  const lastPhase = baseline.phases[baseline.phases.length - 1]!;
  const { recipe } = loaded;

  const record: BuildRecord = {
    schema: BUILD_RECORD_SCHEMA,
    schemaVersion: BUILD_RECORD_VERSION,
    buildId: parts.buildId,
    tool: { name: "migtd-repro", version: packageVersion() },
    recipe: { name: recipe.name, version: recipe.version, path: loaded.path, sha256: loaded.sha256 },
    source: {
      kind: source.kind,
      uri: source.uri,
      ...(source.commit ? { commit: source.commit } : {}),
      ...(source.tree ? { tree: source.tree } : {}),
      digest: packed.sha256,
    },
    inputs: Object.fromEntries(
      parts.prepared.inputs.map((input) => [
        input.name,
        {
          file: input.hostPath.split("/").pop()!,
          containerPath: input.containerPath,
          sha256: input.sha256,
          sha384: input.sha384,
          size: input.bytes.length,
        },
      ]),
    ),
    options: parts.prepared.options,
    builder: { reference: builder.reference, id: builder.id, pinned: builder.pinned, origin: builder.origin },
    user: { ...recipe.user },
    sourcePath: recipe.sourcePath,
    sourceDateEpoch: plan.sourceDateEpoch,
    env: lastPhase.env,
    phases: baseline.phases.map((phase) => ({
      name: phase.name,
      command: phase.command,
      network: phase.network,
      exitCode: phase.exitCode,
      durationMs: phase.durationMs,
      ...(sameEnv(phase.env, lastPhase.env) ? {} : { env: phase.env }),
    })),
    outputs: baseline.files.map((file) => ({
      name: file.name,
      path: file.containerPath,
      size: file.size,
      sha256: file.sha256,
      sha384: file.sha384,
      image: file.image,
    })),
    measurement: parts.measurement,
    reproducibility: parts.reproducibility,
    timings: {
      started: parts.started.toISOString(),
      finished: new Date().toISOString(),
      phasesMs: { ...parts.timings },
    },
    unpinned: parts.prepared.unpinned,
  };
  return BuildRecordSchema.parse(record);
}

function sameEnv(a: Record<string, string>, b: Record<string, string>): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}
