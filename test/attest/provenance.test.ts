import assert from "node:assert/strict";
import { test } from "node:test";
import { BuildRecordSchema } from "../../attest/build-record.js";
import { provenancePredicate } from "../../attest/provenance.js";
import { makeBuildRecord, makeFixture } from "./attestation-fixture.js";

const record = makeBuildRecord(makeFixture(256 * 1024));

test("provenance: fixture record matches the schema", () => {
  assert.equal(BuildRecordSchema.safeParse(record).success, true);
});

test("provenance: SLSA v1 field names", () => {
  const predicate = JSON.parse(JSON.stringify(provenancePredicate(record)));

  assert.deepEqual(Object.keys(predicate), ["buildDefinition", "runDetails"]);
  assert.deepEqual(Object.keys(predicate.buildDefinition), [
    "buildType",
    "externalParameters",
    "internalParameters",
    "resolvedDependencies",
  ]);
  assert.deepEqual(Object.keys(predicate.runDetails), ["builder", "metadata"]);
  assert.deepEqual(Object.keys(predicate.runDetails.metadata), ["invocationId", "startedOn", "finishedOn"]);
});

test("provenance: external parameters from record", () => {
  const { externalParameters } = provenancePredicate(record).buildDefinition;

  assert.deepEqual(externalParameters.source, {
    uri: `git+https://example.org/minitd.git@${"c".repeat(40)}`,
    digest: { sha256: "ef".repeat(32), gitCommit: "c".repeat(40), gitTree: "d".repeat(40) },
  });
  assert.deepEqual(externalParameters.recipe, {
    name: "minitd",
    version: "1",
    path: "guest/minitd/recipe.json",
    digest: { sha256: "ab".repeat(32) },
  });
  assert.deepEqual(externalParameters.options, { debug: false, logLevel: "info" });
  assert.deepEqual(Object.keys(externalParameters.inputs as object), ["policy", "rootCa"]);
});

test("provenance: internal parameters from record", () => {
  const { internalParameters } = provenancePredicate(record).buildDefinition;

  assert.deepEqual(internalParameters.user, { name: "builder", uid: 1000, gid: 1000, home: "/home/builder" });
  assert.equal(internalParameters.sourcePath, "/home/builder/src");
  assert.equal(internalParameters.sourceDateEpoch, 1700000000);
  assert.deepEqual(internalParameters.env, { SOURCE_DATE_EPOCH: "1700000000", TZ: "UTC", LC_ALL: "C.UTF-8" });
  assert.deepEqual(internalParameters.builderImage, {
    reference: "migtd-builder:1",
    id: `sha256:${"12".repeat(32)}`,
    pinned: true,
    origin: "rootfs",
  });
});

test("provenance: resolved dependencies are source and builder", () => {
  const { resolvedDependencies } = provenancePredicate(record).buildDefinition;

  assert.deepEqual(
    resolvedDependencies.map(({ name, digest }) => [name, digest.sha256]),
    [
      ["source", "ef".repeat(32)],
      ["builder-image", "12".repeat(32)],
    ],
  );
});

test("provenance: builder id default and override", () => {
  const local = provenancePredicate(record).runDetails;
  const ci = provenancePredicate(record, { builderId: "https://ci.example.org/runner@v1" }).runDetails;

  assert.equal(local.builder.id, "https://github.com/migtd-repro/migtd-repro/builders/local/v1");
  assert.equal(ci.builder.id, "https://ci.example.org/runner@v1");
  assert.deepEqual(local.builder.version, { "migtd-repro": "0.1.0" });
  assert.deepEqual(local.metadata, {
    invocationId: "0123456789ab",
    startedOn: "2026-01-02T03:04:05.000Z",
    finishedOn: "2026-01-02T03:06:07.000Z",
  });
});

test("provenance: folder source as file URI", () => {
  const folder = { ...record, source: { kind: "dir" as const, uri: "/srv/minitd src", digest: "ef".repeat(32) } };
  const { externalParameters, resolvedDependencies } = provenancePredicate(folder).buildDefinition;

  assert.deepEqual(externalParameters.source, { uri: "file:///srv/minitd%20src", digest: { sha256: "ef".repeat(32) } });
  assert.equal(resolvedDependencies[0]!.uri, "file:///srv/minitd%20src");
});
