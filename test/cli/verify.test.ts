import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { packagePath } from "../../config/package-root.js";
import { makeKeyPair, POLICY } from "../attest/attestation-fixture.js";
import { CLIENT_MODULES, moduleRecordingArgs, workerRecordingArgs } from "../helpers/cli.js";
import { makeSignedFolder, runCli, temporaryDir } from "./attestation-cli.js";

const folder = makeSignedFolder();

function flipByte(path: string, offset: number): string {
  const dir = temporaryDir("verify-cli-");
  const copy = join(dir, "release.bin");
  const bytes = readFileSync(path);
  bytes[offset] = bytes[offset]! ^ 0x01;
  writeFileSync(copy, bytes);
  copyFileSync(join(folder.dir, "release.intoto.jsonl"), join(dir, "release.intoto.jsonl"));
  return copy;
}

test("verify: signed image exits 0", () => {
  const result = runCli(["verify", folder.image, "--key", folder.publicKey]);

  assert.equal(result.status, 0, result.stdout + result.stderr);
  for (const code of ["envelopes", "signatures", "statements", "subject", "measurements", "reproducibility"]) {
    assert.match(result.stdout, new RegExp(`^  ok    ${code} `, "m"));
  }
  assert.match(result.stdout, new RegExp(`^verified: ${folder.image}$`, "m"));
});

test("verify: expected SERVTD_INFO_HASH and servtd_info", () => {
  const servtdInfo = join(folder.dir, "..", "servtd_info.json");
  writeFileSync(servtdInfo, JSON.stringify(folder.fixture.measurement.servtdInfo));
  const result = runCli([
    "verify",
    folder.image,
    "--key",
    folder.publicKey,
    "--servtd-info",
    servtdInfo,
    "--expect-servtd-info-hash",
    folder.fixture.measurement.servtdInfoHash.toUpperCase(),
  ]);

  assert.equal(result.status, 0, result.stdout);
  assert.match(result.stdout, /^  ok    servtd-info /m);
  assert.match(result.stdout, /^  ok    expected-servtd-info-hash /m);
});

test("verify: flipped image byte exits 1", () => {
  const image = flipByte(folder.image, 0x30000);
  const result = runCli(["verify", image, "--key", folder.publicKey]);

  assert.equal(result.status, 1);
  assert.match(result.stdout, /^  FAIL  subject /m);
  assert.match(result.stdout, /^FAILED: 2 check\(s\) failed; do not trust /m);
  assert.doesNotMatch(result.stdout + result.stderr, /verified/);
});

test("verify: missing attestation exits 2", () => {
  const result = runCli(["verify", folder.image, "--key", folder.publicKey, "--attestation", "/nonexistent.jsonl"]);

  assert.equal(result.status, 2);
  assert.equal(result.stderr, "migtd-repro: cannot read attestation /nonexistent.jsonl: no such file\n");
  assert.doesNotMatch(result.stdout + result.stderr, /verified/);
});

test("verify: JSON report", () => {
  const good = JSON.parse(runCli(["verify", folder.image, "--key", folder.publicKey, "--json"]).stdout);
  const other = makeKeyPair("ed25519");
  const otherKey = join(folder.dir, "..", "other.pub.pem");
  writeFileSync(otherKey, other.publicPem);
  const bad = runCli(["verify", folder.image, "--key", otherKey, "--json"]);

  assert.equal(good.status, "verified");
  assert.equal(good.checks.length, 9);
  assert.equal(good.provenance[0].builderId, "https://github.com/migtd-repro/migtd-repro/builders/local/v1");
  assert.equal(bad.status, 1);
  assert.equal(JSON.parse(bad.stdout).status, "failed");
});

test("verify: trusted keys from the config folder", () => {
  const config = temporaryDir("xdg-");
  const folderOfKeys = join(config, "migtd-repro", "trusted-keys");
  mkdirSync(folderOfKeys, { recursive: true });
  copyFileSync(folder.publicKey, join(folderOfKeys, "release.pem"));

  const trusted = runCli(["verify", folder.image], { env: { XDG_CONFIG_HOME: config } });
  const empty = runCli(["verify", folder.image], { env: { XDG_CONFIG_HOME: join(config, "none") } });

  assert.equal(trusted.status, 0, trusted.stdout);
  assert.equal(empty.status, 1);
  assert.match(empty.stdout, /no trusted public key is configured \(give --key PUB.pem, --trusted-keys FILE, or put PEM files in .*none\/migtd-repro\/trusted-keys\)/);
});

test("verify: --trusted-keys file with two keys", () => {
  const bundle = join(folder.dir, "..", "bundle.pem");
  writeFileSync(bundle, makeKeyPair("ed25519").publicPem + readFileSync(folder.publicKey, "utf8"));
  const result = runCli(["verify", folder.image, "--trusted-keys", bundle]);

  assert.equal(result.status, 0, result.stdout);
  assert.match(result.stdout, /bundle.pem \(key 2\)/);
});

test("verify: no Docker engine for --rebuild exits 3", () => {
  const result = runCli(["verify", folder.image, "--key", folder.publicKey, "--rebuild"], {
    env: { DOCKER_HOST: "unix:///nonexistent/docker.sock" },
  });

  assert.equal(result.status, 3);
  assert.match(result.stderr, /no Docker engine answered at unix:\/\/\/nonexistent\/docker.sock/);
});

test("verify: --rebuild skipped after a failed check", () => {
  const image = flipByte(folder.image, 0x30000);
  const result = runCli(["verify", image, "--key", folder.publicKey, "--rebuild"], {
    env: { DOCKER_HOST: "unix:///nonexistent/docker.sock" },
  });

  assert.equal(result.status, 1);
  assert.match(result.stdout, /^  skip  rebuild +skipped: the attestation failed the checks above$/m);
});

test("verify: Docker and GitHub modules stay unloaded", () => {
  const log = join(temporaryDir("verify-hooks-"), "modules.log");
  const nodeArgs = moduleRecordingArgs(log);
  const loaded = () => readFileSync(log, "utf8").split("\n").filter(Boolean);

  const plain = runCli(["verify", folder.image, "--key", folder.publicKey], { nodeArgs });
  const plainModules = loaded();
  const rebuild = runCli(["verify", folder.image, "--key", folder.publicKey, "--rebuild"], { nodeArgs });
  const rebuildModules = loaded();

  assert.equal(plain.status, 0, plain.stderr);
  assert.ok(plainModules.some((module) => module.endsWith("/dist/bin/migtd-repro.cjs")), "the hooks saw the CLI load");
  assert.deepEqual(plainModules.filter((module) => CLIENT_MODULES.test(module) || /vendor\/zod\.cjs|node_modules\/zod\//.test(module)), []);
  // --rebuild needs the Docker client, and the hooks see it load.
  assert.notEqual(rebuild.status, 0);
  assert.ok(rebuildModules.some((module) => /vendor\/dockerode\.cjs$/.test(module)), "verify --rebuild loads dockerode");
});

test("verify: one digest worker, from the entry", () => {
  const log = join(temporaryDir("verify-workers-"), "workers.log");
  const nodeArgs = workerRecordingArgs(log);

  const result = runCli(["verify", folder.image, "--key", folder.publicKey], { nodeArgs });
  const workers = readFileSync(log, "utf8").split("\n").filter(Boolean);

  assert.equal(result.status, 0, result.stderr);
  assert.equal(workers.length, 1, workers.join("\n"));
  // The bundle must use the worker that the entry started, not a second one.
  assert.match(workers[0]!, /dist\/bin\/digest-prestart\.cjs/);
});

test("verify: folder as image is named", () => {
  const dir = temporaryDir("verify-folder-");

  const result = runCli(["verify", dir, "--key", folder.publicKey]);

  assert.equal(result.status, 2);
  assert.equal(result.stderr, `migtd-repro: image ${dir} is a folder, not a regular file; give a file\n`);
});

test("verify: image named --help after --", () => {
  const dir = temporaryDir("verify-dashes-");
  copyFileSync(folder.image, join(dir, "--help"));
  copyFileSync(join(folder.dir, "release.intoto.jsonl"), join(dir, "--help.intoto.jsonl"));

  const result = runCli(["verify", "--key", folder.publicKey, "--", "--help"], { cwd: dir });

  assert.equal(result.status, 0, result.stderr);
  assert.match(result.stdout, /^verified: --help$/m);
});

test("verify: usage errors exit 2", () => {
  const badHash = runCli(["verify", folder.image, "--expect-servtd-info-hash", "abc"]);
  const noImage = runCli(["verify"]);
  const unknown = runCli(["verify", folder.image, "--frobnicate"]);

  assert.equal(badHash.status, 2);
  assert.equal(noImage.status, 2);
  assert.equal(unknown.status, 2);
  assert.match(badHash.stderr, /--expect-servtd-info-hash 'abc' is not 96 hex digits/);
});

test("verify: missing image is named", () => {
  const missing = join(temporaryDir("verify-missing-"), "nope.bin");

  const result = runCli(["verify", missing, "--key", folder.publicKey]);

  assert.equal(result.status, 2);
  assert.equal(result.stderr, `migtd-repro: cannot read image ${missing}: no such file\n`);
});

/** Copies the signed image with only the given lines (1-based) of its attestation. */
function keepLines(numbers: number[]): string {
  const dir = temporaryDir("verify-lines-");
  const image = join(dir, "release.bin");
  copyFileSync(folder.image, image);
  const lines = readFileSync(join(folder.dir, "release.intoto.jsonl"), "utf8").split("\n");
  writeFileSync(join(dir, "release.intoto.jsonl"), numbers.map((number) => `${lines[number - 1]}\n`).join(""));
  return image;
}

test("verify: no provenance statement exits 1", () => {
  const image = keepLines([2, 3]);
  const result = runCli(["verify", image, "--key", folder.publicKey]);

  assert.equal(result.status, 1, result.stdout);
  assert.match(result.stdout, /^  FAIL  provenance +no trusted statement with predicate type https:\/\/slsa.dev\/provenance\/v1, so nothing says who built the image or how$/m);
  assert.doesNotMatch(result.stdout, /^verified:/m);
  assert.doesNotMatch(result.stdout, /built by/);
});

test("verify: no reproducibility statement skipped", () => {
  const image = keepLines([1, 2]);
  const result = runCli(["verify", image, "--key", folder.publicKey]);

  assert.equal(result.status, 0, result.stdout);
  assert.match(result.stdout, /^  ok    provenance +SLSA Provenance v1 by https:\/\/github.com\/migtd-repro\/migtd-repro\/builders\/local\/v1$/m);
  assert.match(result.stdout, /^  skip  reproducibility +not attested/m);
  assert.match(result.stdout, new RegExp(`^verified: ${image}$`, "m"));
});

function sha256sum(path: string): string {
  return execFileSync("sha256sum", [path], { encoding: "utf8" }).split(" ")[0]!;
}

test("verify: --rebuild with other inputs stops", () => {
  const attestedPolicy = createHash("sha256").update(POLICY).digest("hex");
  const defaultPolicy = sha256sum(packagePath("config", "minitd", "policy.json"));
  const result = runCli(["verify", folder.image, "--key", folder.publicKey, "--rebuild"]);

  assert.equal(result.status, 1, result.stdout + result.stderr);
  assert.match(result.stdout, /^  FAIL  rebuild +not rebuilt: the input files differ from the attested ones$/m);
  assert.match(
    result.stdout,
    new RegExp(`- input policy sha256 ${attestedPolicy} is not the recipe default \\(${defaultPolicy}\\); give it with --input policy=FILE$`, "m"),
  );
  assert.match(result.stdout, /- input rootCa is attested, but recipe .*guest\/minitd\/recipe.json has no input 'rootCa'$/m);
});

test("verify: --input file checked before rebuild", () => {
  const dir = temporaryDir("verify-input-");
  const policy = join(dir, "policy.json");
  const other = join(dir, "other.json");
  writeFileSync(policy, POLICY);
  writeFileSync(other, "{}");
  const attestedPolicy = createHash("sha256").update(POLICY).digest("hex");

  const matching = runCli(["verify", folder.image, "--key", folder.publicKey, "--rebuild", "--input", `policy=${policy}`, "--input", `root-ca=${other}`]);
  const wrong = runCli(["verify", folder.image, "--key", folder.publicKey, "--rebuild", "--input", `policy=${other}`]);

  assert.equal(matching.status, 1, matching.stdout + matching.stderr);
  assert.doesNotMatch(matching.stdout, /input policy /);
  assert.match(matching.stdout, /- --input root-ca: the attested build had no input 'root-ca' \(inputs: policy, rootCa\)$/m);
  assert.equal(wrong.status, 1, wrong.stdout + wrong.stderr);
  assert.match(wrong.stdout, new RegExp(`- input policy ${other} has sha256 ${sha256sum(other)}, attested ${attestedPolicy}$`, "m"));
});

test("verify: --input usage errors exit 2", () => {
  const cases: [string[], string][] = [
    [["--input", "policy=p.json"], "verify: --input NAME=FILE goes with --rebuild (see 'migtd-repro verify --help')"],
    [["--rebuild", "--input", "policy"], "verify: --input 'policy' is not NAME=FILE, e.g. --input policy=policy.json"],
    [["--rebuild", "--input", "policy=a", "--input", "policy=b"], "verify: --input policy is given twice"],
  ];

  for (const [args, message] of cases) {
    const result = runCli(["verify", folder.image, "--key", folder.publicKey, ...args]);
    assert.equal(result.status, 2, args.join(" "));
    assert.equal(result.stderr, `migtd-repro: ${message}\n`);
  }
});

test("verify: missing default attestation names both", () => {
  const dir = temporaryDir("verify-missing-");
  const image = join(dir, "release.bin");
  copyFileSync(folder.image, image);
  const result = runCli(["verify", image, "--key", folder.publicKey]);

  assert.equal(result.status, 2);
  assert.equal(
    result.stderr,
    `migtd-repro: no attestation for ${image}: neither ${image}.intoto.jsonl nor ${join(dir, "release.intoto.jsonl")} exists; give --attestation FILE\n`,
  );
});

test("verify: no IMAGE points to help", () => {
  const result = runCli(["verify", "--key", folder.publicKey]);

  assert.equal(result.status, 2);
  assert.equal(result.stderr, "migtd-repro: verify: give one IMAGE (see 'migtd-repro verify --help')\n");
});

test("verify: trailing blank line exits 0", () => {
  const image = keepLines([1, 2, 3]);
  const attestation = join(image, "..", "release.intoto.jsonl");
  writeFileSync(attestation, `${readFileSync(attestation, "utf8")}\n`);
  const result = runCli(["verify", image, "--key", folder.publicKey]);

  assert.equal(result.status, 0, result.stdout);
  assert.match(result.stdout, /^  ok    envelopes +3 DSSE envelope\(s\)/m);
});
