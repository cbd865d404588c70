import assert from "node:assert/strict";
import { test } from "node:test";
import { AttestationError } from "../../attest/attestation-error.js";
import { attestationStatements } from "../../attest/sign.js";
import { parseStatement } from "../../attest/statement.js";
import { makeBuildRecord, makeFixture } from "./attestation-fixture.js";
import { createHash } from "node:crypto";

const fixture = makeFixture(256 * 1024);
const digests = {
  sha256: createHash("sha256").update(fixture.image).digest("hex"),
  sha384: createHash("sha384").update(fixture.image).digest("hex"),
};

test("statement: in-toto v1 field names", () => {
  const [statement] = attestationStatements(makeBuildRecord(fixture), digests);
  const json = JSON.parse(JSON.stringify(statement));

  assert.deepEqual(Object.keys(json), ["_type", "subject", "predicateType", "predicate"]);
  assert.equal(json._type, "https://in-toto.io/Statement/v1");
  assert.deepEqual(json.subject, [{ name: "release.bin", digest: digests }]);
});

test("statement: three predicate types in order", () => {
  const statements = attestationStatements(makeBuildRecord(fixture), digests);

  assert.deepEqual(
    statements.map((statement) => statement.predicateType),
    [
      "https://slsa.dev/provenance/v1",
      "https://github.com/migtd-repro/migtd-repro/predicates/td-measurement/v1",
      "https://github.com/migtd-repro/migtd-repro/predicates/reproducibility/v1",
    ],
  );
});

test("statement: differing builds not attested reproducible", () => {
  const single = attestationStatements(makeBuildRecord(fixture, { builds: 1 }), digests);
  const differing = attestationStatements(makeBuildRecord(fixture, { identical: false }), digests);

  assert.equal(single.length, 2);
  assert.equal(differing.length, 2);
});

test("statement: TD measurement predicate fields", () => {
  const [, measurement] = attestationStatements(makeBuildRecord(fixture), digests);

  assert.deepEqual(measurement!.predicate, { ...fixture.measurement, servtdType: 0 });
});

test("statement: reproducibility predicate fields", () => {
  const [, , reproducibility] = attestationStatements(makeBuildRecord(fixture), digests);

  assert.deepEqual(reproducibility!.predicate, {
    builds: 2,
    identical: true,
    variations: ["hostname", "umask"],
    imageSha384: [digests.sha384, digests.sha384],
    buildId: "0123456789ab",
  });
});

test("statement: other image's digests rejected", () => {
  const other = { ...digests, sha384: "00".repeat(48) };

  assert.throws(
    () => attestationStatements(makeBuildRecord(fixture), other),
    (error: unknown) => error instanceof AttestationError && error.code === "image-not-in-record",
  );
});

const BAD_STATEMENTS: [string, unknown, RegExp][] = [
  ["wrong _type", { _type: "https://in-toto.io/Statement/v0.1" }, /has statement type "https:\/\/in-toto.io\/Statement\/v0.1"; expected 'https:\/\/in-toto.io\/Statement\/v1'/],
  ["no predicateType", { _type: "https://in-toto.io/Statement/v1", predicate: {} }, /has no 'predicateType' string/],
  ["no subject", { _type: "https://in-toto.io/Statement/v1", predicateType: "t", predicate: {}, subject: [] }, /has no 'subject' list/],
  ["non-hex digest", { _type: "https://in-toto.io/Statement/v1", predicateType: "t", predicate: {}, subject: [{ name: "a", digest: { sha256: "xyz" } }] }, /subject 1 digest 'sha256' is not a hex string/],
];

for (const [name, value, message] of BAD_STATEMENTS) {
  test(`statement: ${name} rejected`, () => {
    assert.throws(
      () => parseStatement(Buffer.from(JSON.stringify(value)), "line 1"),
      (error: unknown) =>
        error instanceof AttestationError && error.code === "statement-invalid" && message.test(error.message),
    );
  });
}
