import { createHash } from "node:crypto";
import { readdir, readFile } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { AttestationError } from "../attest/attestation-error.js";
import { BuildRecordSchema, type BuildRecord } from "../attest/build-record.js";
import { fileDigests } from "../attest/hash-image.js";
import { generateSigningKey, parsePrivateKey, type SigningKey } from "../attest/keys.js";
import { tdMeasurementPredicate } from "../attest/predicates.js";
import { measurementDifferences, remeasure } from "../attest/remeasure.js";
import { attestationStatements, signStatements } from "../attest/sign.js";
import { makeFolders } from "../pipeline/make-folders.js";
import { writeFileAtomic } from "./atomic-write.js";
import { MAX_TEXT_FILE_SIZE, readInputFile } from "./io.js";
import { sideFiles } from "./output-names.js";
import { configDir } from "./trusted-keys.js";
import { UsageError } from "./usage-error.js";

/** Environment variable that may hold a PEM signing key, e.g. a CI secret. */
export const SIGNING_KEY_ENV = "MIGTD_REPRO_SIGNING_KEY";

export const CHECKSUM_FILES = { sha256: "SHA256SUMS", sha384: "SHA384SUMS" } as const;

const PRIVATE_KEY_PEM = /-----BEGIN [A-Z ]*PRIVATE KEY-----/;

export interface SignBuildOptions {
  /** The firmware image to attest. */
  imagePath: string;
  /** The build record, parsed or as read from NAME.build.json. */
  buildRecord: BuildRecord | unknown;
  /** Path of the record, for messages. */
  buildRecordSource?: string;
  keys: readonly SigningKey[];
  /** runDetails.builder.id; the local builder ID when absent. */
  builderId?: string;
}

export interface SignedBuild {
  attestationPath: string;
  servtdInfoHashPath: string;
  checksumPaths: string[];
  /** Predicate type of each signed statement, in file order. */
  predicateTypes: string[];
  keyIds: string[];
  servtdInfoHash: string;
}

/**
 * Signs the attestations of a finished build and writes, next to the image
 * NAME.bin, NAME.intoto.jsonl, NAME.servtd_info_hash, then SHA256SUMS and
 * SHA384SUMS over the folder. The image is measured again with the recorded parameters
 * first: a record whose measurements are not those of the image is rejected
 * instead of signed. Each file is written atomically.
 */
export async function signBuild(options: SignBuildOptions): Promise<SignedBuild> {
  if (options.keys.length === 0) {
    throw new UsageError(`no signing key: give --key FILE or set ${SIGNING_KEY_ENV}`);
  }

  const record = parseBuildRecord(options.buildRecord, options.buildRecordSource ?? "the build record");
  const image = await readInputFile(options.imagePath, "image");
  const statements = attestationStatements(record, fileDigests(image), options);
  checkRecordedMeasurement(image, record, options.imagePath);

  const paths = sideFiles(options.imagePath);
  const attestationPath = paths.attestation;
  await writeFileAtomic(attestationPath, signStatements(statements, options.keys));

  const servtdInfoHashPath = paths.servtdInfoHash;
  await writeFileAtomic(servtdInfoHashPath, `${record.measurement.servtdInfoHash}\n`);

  const checksumPaths = await writeChecksumFiles(dirname(options.imagePath));
  return {
    attestationPath,
    servtdInfoHashPath,
    checksumPaths,
    predicateTypes: statements.map((statement) => statement.predicateType),
    keyIds: options.keys.map((key) => key.keyId),
    servtdInfoHash: record.measurement.servtdInfoHash,
  };
}

/**
 * Loads signing keys from PEM files or, when no file is given, from the
 * MIGTD_REPRO_SIGNING_KEY environment variable. Messages name the file or
 * the variable, never the key.
 */
export async function loadSigningKeys(
  paths: readonly string[],
  env: NodeJS.ProcessEnv = process.env,
): Promise<SigningKey[]> {
  if (paths.length === 0) {
    const pem = env[SIGNING_KEY_ENV];
    if (pem === undefined || pem.trim() === "") return [];
    return [parsePrivateKey(pem, `environment variable ${SIGNING_KEY_ENV}`)];
  }

  return Promise.all(
    paths.map(async (path) =>
      parsePrivateKey((await readInputFile(path, "signing key", MAX_TEXT_FILE_SIZE)).toString("utf8"), path),
    ),
  );
}

export interface DemoKey {
  key: SigningKey;
  privateKeyPath: string;
  publicKeyPath: string;
  /** True when this call created the key pair. */
  created: boolean;
}

/**
 * Returns the demo signing key for a build run without --key, creating an
 * ECDSA P-256 pair on first use in $XDG_CONFIG_HOME/migtd-repro (default
 * ~/.config/migtd-repro), outside any output folder. The caller must tell
 * the user that the attestations are signed with a demo key.
 */
export async function demoSigningKey(env: NodeJS.ProcessEnv = process.env): Promise<DemoKey> {
  const folder = configDir(env);
  const privateKeyPath = join(folder, "demo-signing.pem");
  const publicKeyPath = join(folder, "demo-signing.pub.pem");

  let created = false;
  const existing = await readFile(privateKeyPath, "utf8").catch(() => undefined);
  if (existing === undefined) {
    const pair = generateSigningKey("ecdsa-p256");
    await makeFolders(folder, 0o700);
    await writeFileAtomic(privateKeyPath, pair.privatePem, { mode: 0o600 });
    await writeFileAtomic(publicKeyPath, pair.publicPem, { mode: 0o644 });
    created = true;
  }

  const key = parsePrivateKey(existing ?? (await readFile(privateKeyPath, "utf8")), privateKeyPath);
  return { key, privateKeyPath, publicKeyPath, created };
}

/**
 * Writes SHA256SUMS and SHA384SUMS listing every regular file in `folder`
 * in the `sha256sum` format ("HEX  NAME"), sorted by name. Left out: hidden
 * files, the two lists themselves, and any file containing a PEM private
 * key, so that a key kept next to the outputs is not listed for release.
 */
export async function writeChecksumFiles(folder: string): Promise<string[]> {
  const entries = await readdir(folder, { withFileTypes: true });
  const names = entries
    .filter((entry) => entry.isFile() && !entry.name.startsWith("."))
    .map((entry) => entry.name)
    .filter((name) => name !== CHECKSUM_FILES.sha256 && name !== CHECKSUM_FILES.sha384)
    .sort();

  const lines = { sha256: [] as string[], sha384: [] as string[] };
  for (const name of names) {
    const bytes = await readFile(join(folder, name));
    if (PRIVATE_KEY_PEM.test(bytes.toString("latin1"))) continue;
    for (const algorithm of ["sha256", "sha384"] as const) {
      lines[algorithm].push(`${createHash(algorithm).update(bytes).digest("hex")}  ${name}\n`);
    }
  }

  const paths: string[] = [];
  for (const algorithm of ["sha256", "sha384"] as const) {
    const path = join(folder, CHECKSUM_FILES[algorithm]);
    await writeFileAtomic(path, lines[algorithm].join(""));
    paths.push(path);
  }
  return paths;
}

function parseBuildRecord(value: unknown, source: string): BuildRecord {
  const result = BuildRecordSchema.safeParse(value);
  if (result.success) return result.data;

  const issue = result.error.issues[0]!;
  const path = issue.path.length > 0 ? issue.path.join(".") : "(top level)";
  throw new AttestationError(
    "build-record-invalid",
    `${source} is not a migtd-repro build record: field ${path}: ${issue.message}`,
  );
}

/** Rejects a record whose measurements the image does not reproduce. */
function checkRecordedMeasurement(image: Buffer, record: BuildRecord, imagePath: string): void {
  const recorded = tdMeasurementPredicate(record.measurement);
  const differences = measurementDifferences(recorded, remeasure(image, recorded), "recorded");
  if (differences.length > 0) {
    throw new AttestationError(
      "record-measurement-mismatch",
      `the build record does not describe ${basename(imagePath)}: ${differences[0]}`,
    );
  }
}
