import { existsSync } from "node:fs";
import { basename } from "node:path";
import { ImageBytes } from "../../attest/image-bytes.js";
import { skip, verifyAttestationWithDigests, type CheckResult, type VerifyReport } from "../../attest/verify.js";
import { parseCommandArgs } from "../args.js";
import { EXIT } from "../exit.js";
import { startFileDigests, type DigestJob } from "../file-digests.js";
import { InputFileError, MAX_TEXT_FILE_SIZE, openInputFile, readInputFile, readJsonFile } from "../io.js";
import { sideFiles } from "../output-names.js";
import { defaultTrustedKeysDir, loadTrustedKeys } from "../trusted-keys.js";
import { UsageError } from "../usage-error.js";

export const help = `Usage: migtd-repro verify IMAGE [--attestation FILE] [--key PUB.pem ...]
                          [--trusted-keys FILE|DIR ...] [--servtd-info FILE]
                          [--expect-servtd-info-hash HEX]
                          [--rebuild [--input NAME=FILE ...]] [--json]
       migtd-repro verify --github OWNER/NAME --tag TAG [ASSET] [--api-url URL]
                          [the options above but --attestation]

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
  provenance       a SLSA Provenance v1 statement says who built the image,
                   from which source and recipe, in which builder image
  reproducibility  repeated builds, when attested, gave these bytes; a
                   skip line when the build was not repeated
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
  --input NAME=FILE    with --rebuild: use FILE for the recipe input NAME,
                       e.g. --input policy=policy.json for a build made with
                       'build --policy policy.json'; repeat for several. The
                       attestation records only each input's SHA-256, so
                       the rebuild otherwise uses the recipe's default
                       files. Each file is compared with the attested
                       SHA-256 first, and a difference fails the rebuild
                       check without a build
  --json               print the report as JSON instead of the checklist
  --github OWNER/NAME  download the image and its NAME.intoto.jsonl from a
                       GitHub release into a temporary folder and verify
                       them; ASSET names the image when the release has
                       several. Each download is checked against the size
                       and SHA-256 GitHub lists. A token (GITHUB_TOKEN or
                       GH_TOKEN) is needed only for drafts and private
                       repositories. A response that does not start
                       within 30 s, or pauses that long, is retried 3
                       times and then fails with status 3.
  --tag TAG            with --github: the release's tag
  --api-url URL        with --github: GitHub REST API root (default
                       $GITHUB_API_URL, else https://api.github.com)
  -h, --help           show this help

Exit status:
  0    every check passed
  1    a check failed
  2    invalid input or usage: a missing image or attestation file, an
       unreadable key, a bad option value
  2    with --github: no such repository, release or asset
  3    environment problem: no Docker engine for --rebuild; with --github,
       no network, a rate limit, or a token GitHub rejects
  4    the --rebuild build failed (non-zero exit, timeout, missing output)
  130  interrupted by SIGINT or SIGTERM; --rebuild first removes its
       containers
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
      input: { type: "string", multiple: true, default: [] },
      json: { type: "boolean", default: false },
      github: { type: "string" },
      tag: { type: "string" },
      "api-url": { type: "string" },
    },
  });

  const request: VerifyRequest = {
    keys: values.key,
    trustedKeys: values["trusted-keys"],
    servtdInfo: values["servtd-info"],
    expected: parseExpectedHash(values["expect-servtd-info-hash"]),
    rebuild: values.rebuild,
    inputs: parseInputs(values.input),
    json: values.json,
  };
  if (values.input.length > 0 && !values.rebuild) {
    throw new UsageError("verify: --input NAME=FILE goes with --rebuild (see 'migtd-repro verify --help')");
  }

  if (values.github !== undefined) {
    return verifyRelease(values.github, values, positionals, request);
  }
  if (values.tag !== undefined || values["api-url"] !== undefined) {
    throw new UsageError("verify: --tag and --api-url go with --github OWNER/NAME");
  }
  if (positionals.length !== 1) throw new UsageError("verify: give one IMAGE (see 'migtd-repro verify --help')");

  const imagePath = positionals[0]!;
  const attestationPath = values.attestation ?? (await defaultAttestation(imagePath));
  return verifyFiles({ imagePath, attestationPath, displayName: imagePath }, request);
}

interface VerifyRequest {
  keys: string[];
  trustedKeys: string[];
  servtdInfo: string | undefined;
  expected: string | undefined;
  rebuild: boolean;
  /** Recipe input name to file, for the rebuild. */
  inputs: Record<string, string>;
  json: boolean;
}

interface VerifyTarget {
  imagePath: string;
  attestationPath: string;
  /** Image name in the output: its path, or the release and asset name. */
  displayName: string;
}

/** Downloads a release's image and attestation, then verifies them as local files. */
async function verifyRelease(
  repo: string,
  values: { tag?: string; "api-url"?: string; attestation?: string },
  positionals: string[],
  request: VerifyRequest,
): Promise<number> {
  if (values.tag === undefined) {
    throw new UsageError("verify: --github needs --tag TAG, the release's tag");
  }
  if (values.attestation !== undefined) {
    throw new UsageError("verify: --attestation does not go with --github, which downloads NAME.intoto.jsonl");
  }
  if (positionals.length > 1) {
    throw new UsageError("verify: with --github give at most one ASSET, the image's asset name");
  }

  // Loaded only here, so that verify without --github never loads octokit.
  const { withDownloadedRelease, tokenFromEnv, apiUrlFromEnv } = await import(
    "../../pipeline/publish/index.js"
  );
  const tag = values.tag;
  const options = {
    repo,
    tag,
    asset: positionals[0],
    apiUrl: apiUrlFromEnv(values["api-url"]),
    token: tokenFromEnv(),
  };

  return withDownloadedRelease(options, (files) =>
    verifyFiles(
      {
        imagePath: files.image,
        attestationPath: files.attestation,
        displayName: `${repo}@${tag}/${basename(files.image)}`,
      },
      request,
    ),
  );
}

async function verifyFiles(target: VerifyTarget, request: VerifyRequest): Promise<number> {
  const imageFile = openInputFile(target.imagePath, "image");
  let digests: DigestJob | undefined;
  let report: VerifyReport;
  try {
    // The worker starts first, so that it hashes the file while this
    // thread reads the other files and checks the attestation.
    digests = startFileDigests(imageFile, `image ${target.imagePath}`);
    const [attestation, trusted, servtdInfo] = await Promise.all([
      readInputFile(target.attestationPath, "attestation", MAX_TEXT_FILE_SIZE),
      loadTrustedKeys(request.keys, request.trustedKeys),
      readServtdInfo(request.servtdInfo),
    ]);

    const image = ImageBytes.fromFile(imageFile);
    report = await verifyAttestationWithDigests(
      {
        image,
        imageName: target.displayName,
        attestation: attestation.toString("utf8"),
        attestationName: target.attestationPath,
        trustedKeys: trusted.keys,
        trustedKeysHint: trusted.hint,
        servtdInfo,
        expectServtdInfoHash: request.expected,
      },
      digests.result,
    );
    // The worker and this thread each read the file once: both must have
    // seen the same bytes.
    imageFile.checkUnchanged();

    if (request.rebuild && !report.verified) {
      report.checks.push(skip("rebuild", "skipped: the attestation failed the checks above"));
    } else if (request.rebuild) {
      // Loaded only here, so that verify without --rebuild never loads the
      // Docker client.
      const { rebuildCheck } = await import("../rebuild-check.js");
      const check = await rebuildCheck(image.view(0, image.length), report, request.inputs);
      report.checks.push(check);
      report.verified = check.status === "pass";
    }
  } finally {
    await digests?.stop();
    imageFile.close();
  }

  const attestationName =
    target.displayName === target.imagePath
      ? target.attestationPath
      : basename(target.attestationPath);
  process.stdout.write(
    request.json
      ? formatJson(report, attestationName)
      : formatChecklist(report, attestationName),
  );
  return report.verified ? EXIT.ok : EXIT.checkFailed;
}

/**
 * Returns IMAGE.intoto.jsonl when it exists, else NAME.intoto.jsonl as
 * 'attest' writes it, and raises an error naming both when neither exists.
 */
async function defaultAttestation(imagePath: string): Promise<string> {
  // A mistyped image path, or a folder or FIFO given as the image, is the
  // likelier error than a missing attestation, so the image is checked first.
  openInputFile(imagePath, "image").close();
  const candidates = [...new Set([`${imagePath}.intoto.jsonl`, sideFiles(imagePath).attestation])];
  for (const path of candidates) {
    if (existsSync(path)) return path;
  }
  const tried = candidates.length === 1 ? `${candidates[0]} does not exist` : `neither ${candidates.join(" nor ")} exists`;
  throw new InputFileError(`no attestation for ${imagePath}: ${tried}; give --attestation FILE`);
}

/** Parses repeated --input NAME=FILE values into a map from name to file. */
function parseInputs(values: string[]): Record<string, string> {
  const inputs: Record<string, string> = {};
  for (const value of values) {
    const separator = value.indexOf("=");
    const name = value.slice(0, separator);
    const file = value.slice(separator + 1);
    if (separator <= 0 || file === "") {
      throw new UsageError(`verify: --input '${value}' is not NAME=FILE, e.g. --input policy=policy.json`);
    }
    if (name in inputs) throw new UsageError(`verify: --input ${name} is given twice`);
    inputs[name] = file;
  }
  return inputs;
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
