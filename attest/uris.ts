/**
 * Type URIs this project defines. Each names a document shape described in
 * docs/attestation.md; a new incompatible shape gets a new version suffix,
 * never a changed meaning under an existing URI.
 */
const BASE = "https://github.com/migtd-repro/migtd-repro";

/** SLSA buildType: a recipe built by migtd-repro in a pinned container. */
export const BUILD_TYPE = `${BASE}/buildtypes/container-recipe/v1`;

/** Predicate: the image's TD measurements and SERVTD_INFO_HASH. */
export const TD_MEASUREMENT_PREDICATE = `${BASE}/predicates/td-measurement/v1`;

/** Predicate: several builds of the same inputs gave identical bytes. */
export const REPRODUCIBILITY_PREDICATE = `${BASE}/predicates/reproducibility/v1`;

/**
 * Builder ID used when the caller names none: a build on a machine whose
 * only identity is the signing key. CI systems should pass their own ID.
 */
export const LOCAL_BUILDER_ID = `${BASE}/builders/local/v1`;

/** in-toto Statement v1 (in-toto attestation framework). */
export const STATEMENT_TYPE = "https://in-toto.io/Statement/v1";

/** SLSA Provenance v1. */
export const SLSA_PROVENANCE_PREDICATE = "https://slsa.dev/provenance/v1";

/** DSSE payloadType for in-toto statements. */
export const IN_TOTO_PAYLOAD_TYPE = "application/vnd.in-toto+json";
