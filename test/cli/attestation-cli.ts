// Runs the compiled CLI in a child process and writes a signed-build folder
// (image, build record, key pair) for the keygen, attest and verify tests.
import { spawnSync, type SpawnSyncReturns } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { packagePath } from "../../config/package-root.js";
import { makeBuildRecord, makeFixture, makeKeyPair, type Fixture, type KeyPairPem } from "../attest/attestation-fixture.js";

export const CLI = packagePath("dist", "bin", "migtd-repro.cjs");

const temporaryDirs: string[] = [];

/** Creates a temporary folder that is removed when the test process exits. */
export function temporaryDir(prefix: string): string {
  if (temporaryDirs.length === 0) {
    process.once("exit", () => {
      for (const dir of temporaryDirs) rmSync(dir, { recursive: true, force: true });
    });
  }
  const dir = mkdtempSync(join(tmpdir(), prefix));
  temporaryDirs.push(dir);
  return dir;
}

export function runCli(
  args: string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv; nodeArgs?: string[] } = {},
): SpawnSyncReturns<string> {
  return spawnSync(process.execPath, [...(options.nodeArgs ?? []), CLI, ...args], {
    encoding: "utf8",
    cwd: options.cwd,
    env: { ...process.env, MIGTD_REPRO_SIGNING_KEY: "", ...options.env },
  });
}

export interface BuildFolder {
  dir: string;
  fixture: Fixture;
  image: string;
  record: string;
  key: KeyPairPem;
  /** Private and public key files, outside the build folder. */
  privateKey: string;
  publicKey: string;
}

/** An output folder with release.bin and release.build.json, not yet signed. */
export function makeBuildFolder(algorithm: "ecdsa-p256" | "ed25519" = "ecdsa-p256"): BuildFolder {
  const root = temporaryDir("migtd-repro-cli-");
  const dir = join(root, "out");
  const fixture = makeFixture();
  const key = makeKeyPair(algorithm);
  const image = join(dir, "release.bin");
  const record = join(dir, "release.build.json");
  const privateKey = join(root, "signing.pem");
  const publicKey = join(root, "signing.pub.pem");

  mkdirSync(dir);
  writeFileSync(image, fixture.image);
  writeFileSync(record, JSON.stringify(makeBuildRecord(fixture), null, 2));
  writeFileSync(privateKey, key.privatePem, { mode: 0o600 });
  writeFileSync(publicKey, key.publicPem);
  return { dir, fixture, image, record, key, privateKey, publicKey };
}

/** A build folder signed with `attest`; throws if attest fails. */
export function makeSignedFolder(algorithm: "ecdsa-p256" | "ed25519" = "ecdsa-p256"): BuildFolder {
  const folder = makeBuildFolder(algorithm);
  const result = runCli(["attest", folder.image, "--key", folder.privateKey]);
  if (result.status !== 0) throw new Error(`attest failed: ${result.stderr}`);
  return folder;
}
