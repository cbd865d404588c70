import { access } from "node:fs/promises";
import { skip, verifyAttestation, type CheckResult, type VerifyReport } from "../../attest/verify.js";
import { parseCommandArgs } from "../args.js";
import { EXIT } from "../exit.js";
import { readInputFile, readJsonFile } from "../io.js";
import { sideFiles } from "../output-names.js";
import { defaultTrustedKeysDir, loadTrustedKeys } from "../trusted-keys.js";
import { UsageError } from "../usage-error.js";

export const help = `Usage: migtd-repro verify IMAGE [--attestation FILE] [--key PUB.pem ...]
                          [--trusted-keys FILE|DIR ...] [--servtd-info FILE]
                          [--expect-servtd-info-hash HEX] [--rebuild] [--json]

Checks IMAGE against its signed attestations, offline, and prints one line
per check:
  envelopes        every line is a DSSE envelope with payload type
                   application/vnd.in-toto+json
  signatures       every envelope has a signature that a trusted key
                   verifies; signatures by other keys are listed, not trusted
  statements       in-toto Statement v1 with known predicate types
  subject          the image's sha256 and sha384 equal the subject digests
  measurements     MRTD, RTMR0-3, SERVTD_INFO_HASH and SERVTD_HASH
                   recomputed from IMAGE with the attested parameters equal
                   the attested values
  reproducibility  repeated builds, when attested, gave these bytes
  servtd-info      with --servtd-info: the attested manifest equals FILE
  expected-servtd-info-hash
                   with --expect-servtd-info-hash: SERVTD_INFO_HASH equals HEX
  rebuild          with --rebuild: a rebuild gives the same bytes

Options:
  --attestation FILE   DSSE envelopes, one per line (default IMAGE.intoto.jsonl,
                       else NAME.intoto.jsonl beside the image NAME.bin)
  --key PUB.pem        trusted public key (PEM); repeat for several
  --trusted-keys PATH  PEM file with one or more public keys, or a folder of
                       *.pem files; repeat for several. When neither --key
                       nor --trusted-keys is given, every *.pem file in
                       ${defaultTrustedKeysDir({ XDG_CONFIG_HOME: "$XDG_CONFIG_HOME" })}
                       is trusted ($XDG_CONFIG_HOME defaults to ~/.config).
  --servtd-info FILE   servtd_info.json the attested manifest must equal
  --expect-servtd-info-hash HEX
                       SERVTD_INFO_HASH the image must have (96 hex digits)
  --rebuild            rebuild the attested recipe, source and builder image
                       in Docker and compare the bytes (needs a Docker engine)
  --json               print the report as JSON instead of the checklist
  -h, --help           show this help

Exit status:
  0    every check passed
  1    a check failed
  2    invalid input or usage: a missing image or attestation file, an
       unreadable key, a bad option value
  3    environment problem: no Docker engine for --rebuild
  4    the --rebuild build failed (non-zero exit, timeout, missing output)
`;

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs("verify", {
    args: argv,
    strict: true,
    allowPositionals: true,
    options: {
      attestation: { type: "string" },
      key: { type: "string", multiple: true, default: [] },
      "trusted-keys": { type: "string", multiple: true, default: [] },
      "servtd-info": { type: "string" },
      "expect-servtd-info-hash": { type: "string" },
      rebuild: { type: "boolean", default: false },
      json: { type: "boolean", default: false },
    },
  });

  if (positionals.length !== 1) throw new UsageError("verify: give one IMAGE");
  const imagePath = positionals[0]!;
  const attestationPath = values.attestation ?? (await defaultAttestation(imagePath));
  const expected = parseExpectedHash(values["expect-servtd-info-hash"]);

  const [image, attestation, trusted, servtdInfo] = await Promise.all([
    readInputFile(imagePath, "image"),
    readInputFile(attestationPath, "attestation"),
    loadTrustedKeys(values.key, values["trusted-keys"]),
    readServtdInfo(values["servtd-info"]),
  ]);

  const report = verifyAttestation({
    image,
    imageName: imagePath,
    attestation: attestation.toString("utf8"),
    attestationName: attestationPath,
    trustedKeys: trusted.keys,
    trustedKeysHint: trusted.hint,
    servtdInfo,
    expectServtdInfoHash: expected,
  });

  if (values.rebuild && !report.verified) {
    report.checks.push(skip("rebuild", "skipped: the attestation failed the checks above"));
  } else if (values.rebuild) {
    // Loaded only here, so that verify without --rebuild never loads the
    // Docker client.
    const { rebuildCheck } = await import("../rebuild-check.js");
    const check = await rebuildCheck(image, report);
    report.checks.push(check);
    report.verified = check.status === "pass";
  }

  process.stdout.write(
    values.json ? formatJson(report, attestationPath) : formatChecklist(report, attestationPath),
  );
  return report.verified ? EXIT.ok : EXIT.checkFailed;
}

/** IMAGE.intoto.jsonl when it exists, else NAME.intoto.jsonl as 'attest' writes it. */
async function defaultAttestation(imagePath: string): Promise<string> {
  const full = `${imagePath}.intoto.jsonl`;
  const exists = await access(full).then(
    () => true,
    () => false,
  );
  return exists ? full : sideFiles(imagePath).attestation;
}

function parseExpectedHash(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  const hex = value.toLowerCase().replace(/^0x/, "");
  if (!/^[0-9a-f]{96}$/.test(hex)) {
    throw new UsageError(
      `verify: --expect-servtd-info-hash '${value}' is not 96 hex digits (SERVTD_INFO_HASH is SHA-384)`,
    );
  }
  return hex;
}

async function readServtdInfo(path: string | undefined) {
  if (path === undefined) return undefined;
  return { json: await readJsonFile(path, "servtd_info file (--servtd-info)"), source: path };
}

const MARKS: Record<CheckResult["status"], string> = { pass: "ok  ", fail: "FAIL", skip: "skip" };

function formatChecklist(report: VerifyReport, attestationPath: string): string {
  const width = Math.max(...report.checks.map(({ code }) => code.length));
  const lines = [`${report.image.name} against ${attestationPath}`];

  for (const check of report.checks) {
    lines.push(`  ${MARKS[check.status]}  ${check.code.padEnd(width)}  ${check.summary}`);
    for (const detail of check.details) lines.push(`        ${" ".repeat(width)}  - ${detail}`);
  }

  for (const provenance of report.provenance) {
    lines.push(
      `  built by ${provenance.builderId} from ${provenance.sourceUri ?? "(no source)"}` +
        `, recipe ${provenance.recipe ?? "(none)"}, builder image ${provenance.builderImage ?? "(none)"}`,
    );
  }

  const failed = report.checks.filter(({ status }) => status === "fail").length;
  lines.push(
    report.verified
      ? `verified: ${report.image.name}`
      : `FAILED: ${failed} check(s) failed; do not trust ${report.image.name}`,
  );
  return `${lines.join("\n")}\n`;
}

function formatJson(report: VerifyReport, attestationPath: string): string {
  const { verified, ...rest } = report;
  const status = verified ? "verified" : "failed";
  return `${JSON.stringify({ status, attestation: attestationPath, ...rest }, null, 2)}\n`;
}
