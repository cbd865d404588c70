import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { test } from "node:test";
import type { BuildRecord } from "../../attest/build-record.js";
import { attestationStatements, signStatements } from "../../attest/sign.js";
import { makeStatement } from "../../attest/statement.js";
import { verifyAttestation, type CheckCode, type VerifyInput } from "../../attest/verify.js";
import {
  makeBuildRecord,
  makeFixture,
  makeKeyPair,
  publicKeyOf,
  type Fixture,
  type KeyPairPem,
} from "./attestation-fixture.js";

const fixture = makeFixture();
const signer = makeKeyPair("ecdsa-p256", "signer.pem");
const stranger = makeKeyPair("ed25519", "stranger.pem");

function digestsOf(image: Uint8Array) {
  return {
    sha256: createHash("sha256").update(image).digest("hex"),
    sha384: createHash("sha384").update(image).digest("hex"),
  };
}

function attest(record: BuildRecord, image: Uint8Array, keys: KeyPairPem[] = [signer]): string {
  const statements = attestationStatements(record, digestsOf(image));
  return signStatements(statements, keys.map((key) => key.signingKey));
}

function input(attestation: string, overrides: Partial<VerifyInput> = {}): VerifyInput {
  return {
    image: fixture.image,
    imageName: "release.bin",
    attestation,
    attestationName: "release.bin.intoto.jsonl",
    trustedKeys: [publicKeyOf(signer)],
    ...overrides,
  };
}

const GOOD = attest(makeBuildRecord(fixture), fixture.image);

async function checkOf(verifyInput: VerifyInput, code: CheckCode) {
  const report = await verifyAttestation(verifyInput);
  return { report, check: report.checks.find((check) => check.code === code)! };
}

test("verify: signed attestation passes every check", async () => {
  const report = await verifyAttestation(input(GOOD));

  assert.equal(report.verified, true);
  assert.deepEqual(
    report.checks.map(({ code, status }) => [code, status]),
    [
      ["envelopes", "pass"],
      ["signatures", "pass"],
      ["statements", "pass"],
      ["subject", "pass"],
      ["measurements", "pass"],
      ["provenance", "pass"],
      ["reproducibility", "pass"],
      ["servtd-info", "skip"],
      ["expected-servtd-info-hash", "skip"],
    ],
  );
  assert.deepEqual(report.image, { name: "release.bin", ...digestsOf(fixture.image) });
});

test("verify: Ed25519 signer passes", async () => {
  const attestation = attest(makeBuildRecord(fixture), fixture.image, [stranger]);
  const report = await verifyAttestation(input(attestation, { trustedKeys: [publicKeyOf(stranger)] }));

  assert.equal(report.verified, true);
});

test("verify: expected SERVTD_INFO_HASH from the spec", async () => {
  const expected = fixture.measurement.servtdInfoHash;
  const { report, check } = await checkOf(input(GOOD, { expectServtdInfoHash: expected }), "expected-servtd-info-hash");

  assert.equal(check.status, "pass");
  assert.equal(report.verified, true);
});

test("verify: other expected SERVTD_INFO_HASH fails", async () => {
  const { report, check } = await checkOf(input(GOOD, { expectServtdInfoHash: "ab".repeat(48) }), "expected-servtd-info-hash");

  assert.equal(check.status, "fail");
  assert.equal(check.summary, `SERVTD_INFO_HASH is ${fixture.measurement.servtdInfoHash}, expected ${"ab".repeat(48)}`);
  assert.equal(report.verified, false);
});

test("verify: flipped image byte fails", async () => {
  const image = Buffer.from(fixture.image);
  image[0x20000] = image[0x20000]! ^ 0x01;
  const report = await verifyAttestation(input(GOOD, { image }));
  const status = (code: CheckCode) => report.checks.find((check) => check.code === code)!;

  assert.equal(report.verified, false);
  assert.equal(status("subject").status, "fail");
  assert.equal(status("measurements").status, "fail");
  assert.match(status("measurements").details[0]!, /^release.bin.intoto.jsonl line 2: MRTD attested [0-9a-f]{96}, image gives [0-9a-f]{96}$/);
});

test("verify: flipped payload byte fails", async () => {
  const lines = GOOD.split("\n");
  const envelope = JSON.parse(lines[1]!);
  const payload = Buffer.from(envelope.payload, "base64");
  const at = payload.indexOf('"mrtd"') + 10;
  payload[at] = payload[at]! ^ 0x01;
  envelope.payload = payload.toString("base64");
  lines[1] = JSON.stringify(envelope);
  const { report, check } = await checkOf(input(lines.join("\n")), "signatures");

  assert.equal(report.verified, false);
  assert.equal(check.status, "fail");
  assert.match(check.details[0]!, /^release.bin.intoto.jsonl line 2: signature by trusted key [0-9a-f]{64} \(signer.pem.pub\) does not verify/);
  assert.equal(report.checks.find((c) => c.code === "measurements")!.status, "fail");
});

test("verify: attestation of another image fails", async () => {
  const other: Fixture = makeFixture(1024 * 1024, 99);
  const attestation = attest(makeBuildRecord(other), other.image);
  const { report, check } = await checkOf(input(attestation), "subject");

  assert.equal(report.verified, false);
  assert.equal(check.status, "fail");
  assert.match(check.details[0]!, new RegExp(`line 1 is about 'release.bin' sha256 ${digestsOf(other.image).sha256}`));
});

test("verify: untrusted signer fails", async () => {
  const attestation = attest(makeBuildRecord(fixture), fixture.image, [stranger]);
  const { report, check } = await checkOf(input(attestation), "signatures");

  assert.equal(report.verified, false);
  assert.equal(check.summary, "3 of 3 envelope(s) have no valid signature by a trusted key");
  assert.equal(check.details[0], `release.bin.intoto.jsonl line 1: signature by key ${stranger.signingKey.keyId} is not from a trusted key; ignored`);
  assert.equal(report.checks.find((c) => c.code === "measurements")!.status, "fail");
});

test("verify: extra untrusted signature is reported", async () => {
  const attestation = attest(makeBuildRecord(fixture), fixture.image, [signer, stranger]);
  const { report, check } = await checkOf(input(attestation), "signatures");

  assert.equal(report.verified, true);
  assert.equal(check.status, "pass");
  assert.equal(check.details.length, 3);
});

test("verify: envelope without signatures fails", async () => {
  const lines = GOOD.split("\n");
  const envelope = JSON.parse(lines[0]!);
  envelope.signatures = [];
  lines[0] = JSON.stringify(envelope);
  const { report, check } = await checkOf(input(lines.join("\n")), "signatures");

  assert.equal(report.verified, false);
  assert.deepEqual(check.details, ["release.bin.intoto.jsonl line 1 has no signatures"]);
});

test("verify: appended unsigned line fails", async () => {
  const envelope = JSON.parse(GOOD.split("\n")[1]!);
  envelope.signatures = [];
  const { report } = await checkOf(input(`${GOOD}${JSON.stringify(envelope)}\n`), "signatures");

  assert.equal(report.verified, false);
  assert.equal(report.checks.find((c) => c.code === "measurements")!.status, "fail");
});

const BROKEN_LINES: [string, (line: string) => string, RegExp][] = [
  ["truncated line", (line) => line.slice(0, line.length / 2), /^release.bin.intoto.jsonl line 2 is not valid JSON \(.*\); the line may be truncated$/],
  ["invalid base64", (line) => line.replace('"payload":"', '"payload":"%'), /^release.bin.intoto.jsonl line 2 payload is not valid base64 \(character '%' at offset 0\)$/],
  ["invalid JSON", (line) => `x${line}`, /^release.bin.intoto.jsonl line 2 is not valid JSON/],
  ["unknown payload type", (line) => line.replace("application/vnd.in-toto+json", "text/plain"), /^release.bin.intoto.jsonl line 2 has payload type "text\/plain"; expected 'application\/vnd.in-toto\+json'$/],
];

for (const [name, breakLine, message] of BROKEN_LINES) {
  test(`verify: ${name} fails`, async () => {
    const lines = GOOD.split("\n");
    lines[1] = breakLine(lines[1]!);
    const { report, check } = await checkOf(input(lines.join("\n")), "envelopes");

    assert.equal(report.verified, false);
    assert.equal(check.status, "fail");
    assert.equal(check.details.length, 1);
    assert.match(check.details[0]!, message);
  });
}

test("verify: empty attestation fails", async () => {
  const { report, check } = await checkOf(input(""), "envelopes");

  assert.equal(report.verified, false);
  assert.deepEqual(check.details, ["release.bin.intoto.jsonl is empty; expected one DSSE envelope per line"]);
});

test("verify: unknown predicate type fails", async () => {
  const statement = makeStatement([{ name: "release.bin", digest: digestsOf(fixture.image) }], "https://example.org/other/v1", {});
  const attestation = GOOD + signStatements([statement], [signer.signingKey]);
  const { report, check } = await checkOf(input(attestation), "statements");

  assert.equal(report.verified, false);
  assert.deepEqual(check.details, ["release.bin.intoto.jsonl line 4 has unknown predicate type 'https://example.org/other/v1'"]);
});

test("verify: different claimed SERVTD_INFO_HASH fails", async () => {
  const record = makeBuildRecord(fixture);
  const claimed = "5a".repeat(48);
  record.measurement = { ...record.measurement, servtdInfoHash: claimed };
  const { report, check } = await checkOf(input(attest(record, fixture.image)), "measurements");

  assert.equal(report.verified, false);
  assert.deepEqual(check.details, [
    `release.bin.intoto.jsonl line 2: SERVTD_INFO_HASH attested ${claimed}, image gives ${fixture.measurement.servtdInfoHash}`,
  ]);
});

test("verify: other page order claim fails", async () => {
  const record = makeBuildRecord(fixture);
  record.measurement = { ...record.measurement, pageOrder: "two-pass" };
  const { check } = await checkOf(input(attest(record, fixture.image)), "measurements");

  assert.equal(check.status, "fail");
  assert.match(check.details[0]!, /: MRTD attested /);
});

test("verify: servtd_info file mismatch fails", async () => {
  const json = { ...fixture.measurement.servtdInfo, xfam: "e7020000000000000".slice(0, 16) };
  const { report, check } = await checkOf(input(GOOD, { servtdInfo: { json, source: "servtd_info.json" } }), "servtd-info");

  assert.equal(report.verified, false);
  assert.deepEqual(check.details, [
    "release.bin.intoto.jsonl line 2: servtdInfo.xfam attested e71a060000000000, servtd_info.json has e702000000000000",
  ]);
});

test("verify: no trusted key fails with hint", async () => {
  const { report, check } = await checkOf(input(GOOD, { trustedKeys: [], trustedKeysHint: "give --key PUB.pem" }), "signatures");

  assert.equal(report.verified, false);
  assert.equal(check.summary, "no trusted public key is configured (give --key PUB.pem)");
});

test("verify: reproducibility of other bytes fails", async () => {
  const record = makeBuildRecord(fixture);
  const other = "0f".repeat(48);
  record.reproducibility = { ...record.reproducibility, imageSha384: [digestsOf(fixture.image).sha384, other] };
  const { report, check } = await checkOf(input(attest(record, fixture.image)), "reproducibility");

  assert.equal(report.verified, false);
  assert.deepEqual(check.details, [`release.bin.intoto.jsonl line 3: build 2 gave sha384 ${other}, not the subject's`]);
});

test("verify: missing provenance statement fails", async () => {
  const withoutProvenance = `${GOOD.split("\n").slice(1).join("\n")}`;
  const { report, check } = await checkOf(input(withoutProvenance), "provenance");

  assert.equal(report.verified, false);
  assert.equal(check.status, "fail");
  assert.equal(
    check.summary,
    "no trusted statement with predicate type https://slsa.dev/provenance/v1, so nothing says who built the image or how",
  );
  assert.equal(report.checks.find((c) => c.code === "measurements")!.status, "pass");
});

test("verify: trailing blank lines ignored", async () => {
  const report = await verifyAttestation(input(`${GOOD}\n\n`));

  assert.equal(report.verified, true);
  assert.equal(report.checks[0]!.summary, "3 DSSE envelope(s) with payload type application/vnd.in-toto+json");
});

test("verify: empty middle line named", async () => {
  const lines = GOOD.split("\n");
  lines.splice(1, 0, "");
  const { report, check } = await checkOf(input(lines.join("\n")), "envelopes");

  assert.equal(report.verified, false);
  assert.deepEqual(check.details, ["release.bin.intoto.jsonl line 2 is empty; expected one DSSE envelope per line"]);
});
