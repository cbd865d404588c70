import { isAbsolute } from "node:path";
import { pathToFileURL } from "node:url";
import { AttestationError } from "./attestation-error.js";
import type { BuildRecord } from "./build-record.js";
import { isObject } from "./statement.js";
import { BUILD_TYPE, LOCAL_BUILDER_ID } from "./uris.js";

/**
 * SLSA Provenance v1 (slsa.dev/spec/v1.0/provenance) made from a build
 * record. Field names are fixed by that specification; the content of
 * externalParameters and internalParameters is defined by BUILD_TYPE and
 * documented in docs/attestation.md.
 */

/** ResourceDescriptor (in-toto attestation v1) for an input of the build. */
export interface ResourceDescriptor {
  name?: string;
  uri?: string;
  digest: Record<string, string>;
  annotations?: Record<string, unknown>;
}

export interface SlsaProvenance {
  buildDefinition: {
    buildType: string;
    externalParameters: Record<string, unknown>;
    internalParameters: Record<string, unknown>;
    resolvedDependencies: ResourceDescriptor[];
  };
  runDetails: {
    builder: { id: string; version: Record<string, string> };
    metadata: { invocationId: string; startedOn: string; finishedOn: string };
  };
}

export interface ProvenanceOptions {
  /** runDetails.builder.id; LOCAL_BUILDER_ID when not given. */
  builderId?: string;
}

export function provenancePredicate(
  record: BuildRecord,
  options: ProvenanceOptions = {},
): SlsaProvenance {
  return {
    buildDefinition: {
      buildType: BUILD_TYPE,
      externalParameters: externalParameters(record),
      internalParameters: internalParameters(record),
      resolvedDependencies: [sourceDependency(record), builderDependency(record)],
    },
    runDetails: {
      builder: {
        id: options.builderId ?? LOCAL_BUILDER_ID,
        version: { [record.tool.name]: record.tool.version },
      },
      metadata: {
        invocationId: record.buildId,
        startedOn: record.timings.started,
        finishedOn: record.timings.finished,
      },
    },
  };
}

/** The parts of a provenance predicate that `verify` reports and relies on. */
export interface ProvenanceSummary {
  buildType: string;
  builderId: string;
  sourceUri: string | undefined;
  recipe: string | undefined;
  /** externalParameters.recipe.path, for a rebuild. */
  recipePath: string | undefined;
  /** externalParameters.options, for a rebuild. */
  options: Record<string, string | boolean>;
  /** SHA-256 of each externalParameters.inputs file, by input name, for a rebuild. */
  inputs: Record<string, string | undefined>;
  sourceDigest: Record<string, string>;
  builderImage: string | undefined;
}

/** Checks the SLSA v1 field names a verifier needs and summarizes them. */
export function parseProvenancePredicate(value: unknown, where: string): ProvenanceSummary {
  const predicate = requireObject(value, `${where} predicate`);
  const definition = requireObject(predicate.buildDefinition, `${where} 'buildDefinition'`);
  const run = requireObject(predicate.runDetails, `${where} 'runDetails'`);
  const builder = requireObject(run.builder, `${where} 'runDetails.builder'`);

  if (typeof definition.buildType !== "string") {
    throw invalid(`${where} 'buildDefinition.buildType' is not a string`);
  }
  if (typeof builder.id !== "string") {
    throw invalid(`${where} 'runDetails.builder.id' is not a string`);
  }
  const external = requireObject(
    definition.externalParameters,
    `${where} 'buildDefinition.externalParameters'`,
  );

  const source = isObject(external.source) ? external.source : {};
  const recipe = isObject(external.recipe) ? external.recipe : {};
  const internal = isObject(definition.internalParameters) ? definition.internalParameters : {};
  const image = isObject(internal.builderImage) ? internal.builderImage : {};

  return {
    buildType: definition.buildType,
    builderId: builder.id,
    sourceUri: typeof source.uri === "string" ? source.uri : undefined,
    recipe: typeof recipe.name === "string" ? `${recipe.name} ${String(recipe.version)}` : undefined,
    recipePath: typeof recipe.path === "string" ? recipe.path : undefined,
    options: pickOptions(external.options),
    inputs: inputDigests(external.inputs),
    sourceDigest: isObject(source.digest) ? stringEntries(source.digest) : {},
    builderImage: typeof image.id === "string" ? image.id : undefined,
  };
}

function pickOptions(value: unknown): Record<string, string | boolean> {
  if (!isObject(value)) return {};
  const entries = Object.entries(value).filter(
    (entry): entry is [string, string | boolean] =>
      typeof entry[1] === "string" || typeof entry[1] === "boolean",
  );
  return Object.fromEntries(entries);
}

function inputDigests(value: unknown): Record<string, string | undefined> {
  if (!isObject(value)) return {};
  return Object.fromEntries(
    Object.entries(value).map(([name, input]) => {
      const digest = isObject(input) && isObject(input.digest) ? input.digest.sha256 : undefined;
      return [name, typeof digest === "string" ? digest : undefined];
    }),
  );
}

function stringEntries(value: Record<string, unknown>): Record<string, string> {
  const entries = Object.entries(value).filter(
    (entry): entry is [string, string] => typeof entry[1] === "string",
  );
  return Object.fromEntries(entries);
}

function externalParameters(record: BuildRecord): Record<string, unknown> {
  const inputs = Object.fromEntries(
    Object.entries(record.inputs).map(([name, input]) => [
      name,
      { file: input.file, size: input.size, digest: { sha256: input.sha256, sha384: input.sha384 } },
    ]),
  );

  return {
    recipe: {
      name: record.recipe.name,
      version: record.recipe.version,
      path: record.recipe.path,
      digest: { sha256: record.recipe.sha256 },
    },
    source: { uri: sourceUri(record), digest: sourceDigest(record) },
    inputs,
    options: { ...record.options },
  };
}

function internalParameters(record: BuildRecord): Record<string, unknown> {
  return {
    builderImage: {
      reference: record.builder.reference,
      id: record.builder.id,
      pinned: record.builder.pinned,
      origin: record.builder.origin,
    },
    user: { ...record.user },
    sourcePath: record.sourcePath,
    sourceDateEpoch: record.sourceDateEpoch,
    env: { ...record.env },
    phases: record.phases.map(({ name, command, network }) => ({ name, command, network })),
    unpinned: record.unpinned,
  };
}

function sourceDependency(record: BuildRecord): ResourceDescriptor {
  return { name: "source", uri: sourceUri(record), digest: sourceDigest(record) };
}

function builderDependency(record: BuildRecord): ResourceDescriptor {
  const [algorithm, hex] = record.builder.id.split(":") as [string, string];
  return {
    name: "builder-image",
    digest: { [algorithm]: hex },
    annotations: { reference: record.builder.reference, digestOf: "image-config" },
  };
}

/**
 * Returns "git+URL@COMMIT" for a git source, the form SLSA's own build
 * types use. A folder with an absolute path becomes a file: URI, and a
 * relative path stays a relative URI reference.
 */
function sourceUri(record: BuildRecord): string {
  const { kind, uri, commit } = record.source;
  if (kind === "git") {
    const prefixed = uri.startsWith("git+") ? uri : `git+${uri}`;
    return commit === undefined ? prefixed : `${prefixed}@${commit}`;
  }
  return isAbsolute(uri) ? pathToFileURL(uri).href : uri;
}

/**
 * Returns the normalized source tar's SHA-256 as "sha256", plus "gitCommit"
 * and "gitTree" for a git source (DigestSet names from the in-toto spec).
 */
function sourceDigest(record: BuildRecord): Record<string, string> {
  const digest: Record<string, string> = { sha256: record.source.digest };
  if (record.source.commit !== undefined) digest.gitCommit = record.source.commit;
  if (record.source.tree !== undefined) digest.gitTree = record.source.tree;
  return digest;
}

function requireObject(value: unknown, where: string): Record<string, unknown> {
  if (!isObject(value)) throw invalid(`${where} is not a JSON object`);
  return value;
}

function invalid(message: string): AttestationError {
  return new AttestationError("predicate-invalid", message);
}
