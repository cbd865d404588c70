import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdtemp, readFile, rm, truncate, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { execa } from "execa";
import { packagePath, packageRoot } from "../../config/package-root.js";

// Golden files are reviewed snapshots of `migtd-repro plan`. After an
// intended change, regenerate them with MIGTD_REPRO_UPDATE_GOLDEN=1 and
// read the diff before committing it.
const UPDATE = process.env.MIGTD_REPRO_UPDATE_GOLDEN === "1";
const GOLDEN = packagePath("test", "fixtures", "plan-golden");
const FIXTURE = "test/fixtures/plan-golden";
const MAIN = packagePath("dist", "bin", "migtd-repro.cjs");

// intel/MigTD v0.7.0, from `git rev-parse v0.7.0^{commit}` in a clone.
const V070 = "4b5eb43890bfab447073c89fc26b610e494d9602";

const CASES: Record<string, string[]> = {
  default: [],
  "preset-production": ["--preset", "production"],
  "preset-pre-production": ["--preset", "pre-production"],
  debug: ["--debug"],
  "no-default-features": ["--no-default-features", "--features", "stack-guard,vmcall-raw"],
  "log-level": ["--log-level", "info"],
  "image-format-igvm": ["--image-format", "igvm"],
  "debug-igvm": ["--debug", "--image-format", "igvm"],
  platform: ["--platform", "kvm"],
  // The IGVM example of upstream's readme at v0.7.1.
  "test-disable-ra": [
    "--no-default-features",
    "--features",
    "vmcall-raw,stack-guard,main,test_disable_ra_and_accept_all,vmcall-interrupt,oneshot-apic",
    "--log-level",
    "info",
    "--image-format",
    "igvm",
  ],
  "policy-v2": [
    "--policy-v2",
    "--policy",
    `${FIXTURE}/inputs/policy_v2.json`,
    "--policy-issuer-chain",
    `${FIXTURE}/inputs/policy_issuer_chain.pem`,
  ],
  "user-files": ["--root-ca", `${FIXTURE}/inputs/root-ca.cer`, "--policy", `${FIXTURE}/inputs/policy.json`],
  "user-and-path": ["--user", "builder:1000:1000:/home/builder", "--source-path", "/home/builder/MigTD"],
  "other-release": ["--rev", V070, "--tag", "v0.7.0"],
  "source-folder": ["--source", `${FIXTURE}/source`, "--preset", "pre-production"],
  "generic-flags": ["--option", "debug=true", "--input", `policy=${FIXTURE}/inputs/policy.json`],
};

function plan(args: string[]) {
  return execa(process.execPath, [MAIN, "plan", ...args], {
    cwd: packageRoot(),
    reject: false,
    stripFinalNewline: false,
  });
}

async function planJson(args: string[]) {
  const result = await plan([...args, "--json"]);
  assert.equal(result.exitCode, 0, result.stderr);
  return JSON.parse(result.stdout);
}

async function compareGolden(file: string, actual: string): Promise<void> {
  const path = join(GOLDEN, file);
  if (UPDATE) await writeFile(path, actual);
  assert.equal(actual, await readFile(path, "utf8"), `${file} differs; see the comment at the top of this test`);
}

describe("plan golden output", () => {
  for (const [name, args] of Object.entries(CASES)) {
    test(`plan: golden text, ${name}`, async () => {
      const result = await plan(args);

      assert.equal(result.exitCode, 0, result.stderr);
      await compareGolden(`${name}.txt`, result.stdout);
    });
  }

  test("plan: golden JSON, default", async () => {
    const result = await plan(["--json"]);

    assert.equal(result.exitCode, 0, result.stderr);
    await compareGolden("default.json", result.stdout);
  });
});

/** The build phase's argv after `cargo image`. */
function imageArguments(planned: { phases: { name: string; command: string[] }[] }): string[] {
  const build = planned.phases.find((phase) => phase.name === "build")!;
  assert.deepEqual(build.command.slice(0, 4), ["cargo", "--locked", "--offline", "image"]);
  return build.command.slice(4);
}

describe("plan content", () => {
  test("plan: default is upstream's cargo image", async () => {
    const planned = await planJson([]);

    assert.deepEqual(imageArguments(planned), []);
    assert.equal(planned.source.url, "https://github.com/intel/MigTD");
    assert.equal(planned.source.commit, "79bda2e051064b6b0cd99fbf36310196a7228f34");
    assert.equal(planned.source.tag, "v0.7.1");
    assert.deepEqual(planned.user, { name: "root", uid: 0, gid: 0, home: "/root" });
    assert.equal(planned.sourcePath, "/root/MigTD");
    assert.deepEqual(planned.outputs, [{ path: "target/release/migtd.bin", image: true, maxBytes: 67108864 }]);
    assert.equal(planned.measure.policyV2, false);
    assert.equal(planned.measure.testDisableRaAndAcceptAll, false);
  });

  test("plan: only fetch has network", async () => {
    const planned = await planJson([]);
    const networked = planned.phases.filter((phase: { network: boolean }) => phase.network);

    assert.deepEqual(networked.map((phase: { name: string }) => phase.name), ["fetch"]);
    const build = planned.phases.find((phase: { name: string }) => phase.name === "build");
    assert.deepEqual(build.env, { CARGO_NET_OFFLINE: "true" });
  });

  test("plan: builder pins base image and lock", async () => {
    const planned = await planJson([]);
    const { dockerfile, checksumLock } = planned.builder;

    assert.deepEqual(dockerfile.baseImages, [
      "ubuntu:26.04@sha256:53958ec7b67c2c9355df922dd08dbf0360611f8c3cdb656875e81873db9ffdba",
    ]);
    assert.equal(dockerfile.buildArgs.APT_SNAPSHOT, "20260702T061415Z");
    assert.equal(dockerfile.buildArgs.CHECKSUM_LOCK_MODE, "enforce");
    assert.deepEqual(dockerfile.sourceFiles, [
      { source: "rust-toolchain", context: "source/rust-toolchain", content: null },
    ]);
    assert.equal(checksumLock.file, "guest/migtd/checksums.lock");
    assert.ok(checksumLock.update.includes("CHECKSUM_LOCK_MODE=write"));
    assert.ok(checksumLock.update.includes("lock"), "the lock target is exported");
  });

  test("plan: presets pass upstream's file pairs", async () => {
    const production = await planJson(["--preset", "production"]);
    const preProduction = await planJson(["--preset", "pre-production"]);
    const byName = (planned: { inputs: { name: string; sourceFile?: string }[] }) =>
      Object.fromEntries(planned.inputs.map((input) => [input.name, input.sourceFile]));

    // Upstream readme at v0.7.1: production and pre-production policy pairs.
    assert.equal(byName(production)["root-ca"], "config/Intel_SGX_Provisioning_Certification_RootCA.cer");
    assert.equal(byName(production).policy, "config/policy_production_fmspc.json");
    assert.equal(
      byName(preProduction)["root-ca"],
      "config/Intel_SGX_Provisioning_Certification_RootCA_preproduction.cer",
    );
    assert.equal(byName(preProduction).policy, "config/policy_pre_production_fmspc.json");
    assert.deepEqual(imageArguments(preProduction), [
      "--root-ca",
      "/opt/migtd-repro/inputs/root-ca.cer",
      "--policy",
      "/opt/migtd-repro/inputs/policy.json",
    ]);
  });

  test("plan: every cargo image option maps", async () => {
    const planned = await planJson(CASES["test-disable-ra"]!);

    assert.deepEqual(imageArguments(planned), [
      "--no-default-features",
      "--features",
      "vmcall-raw,stack-guard,main,test_disable_ra_and_accept_all,vmcall-interrupt,oneshot-apic",
      "--log-level",
      "info",
      "--image-format",
      "igvm",
    ]);
    assert.deepEqual(planned.outputs.map((output: { path: string }) => output.path), ["target/release/migtd.igvm"]);
  });

  test("plan: RA flag follows the features", async () => {
    const withFeature = await planJson(CASES["test-disable-ra"]!);
    const without = await planJson(["--features", "vmcall-raw"]);

    assert.equal(withFeature.measure.testDisableRaAndAcceptAll, true);
    assert.deepEqual(withFeature.measure.upstreamCommand, [
      "cargo",
      "hash",
      "--image",
      "target/release/migtd.igvm",
      "--test-disable-ra-and-accept-all",
    ]);
    assert.equal(without.measure.testDisableRaAndAcceptAll, false);
  });

  test("plan: RA flag in space-separated features", async () => {
    const planned = await planJson(["--features", "stack-guard test_disable_ra_and_accept_all"]);

    assert.equal(planned.measure.testDisableRaAndAcceptAll, true);
  });

  test("plan: package-prefixed RA feature rejected", async () => {
    const result = await plan(["--features", "migtd/test_disable_ra_and_accept_all"]);

    assert.equal(result.exitCode, 2);
    assert.match(result.stderr, /'migtd\/test_disable_ra_and_accept_all' names test_disable_ra_and_accept_all of a package/);
  });

  test("plan: policy v2 sets hash option", async () => {
    const planned = await planJson(CASES["policy-v2"]!);

    assert.equal(planned.measure.policyV2, true);
    assert.deepEqual(imageArguments(planned), [
      "--policy-v2",
      "--policy",
      "/opt/migtd-repro/inputs/policy.json",
      "--policy-issuer-chain",
      "/opt/migtd-repro/inputs/policy_issuer_chain.pem",
    ]);
    assert.ok(planned.measure.upstreamCommand.includes("--policy-v2"));
  });

  test("plan: debug output paths", async () => {
    const debug = await planJson(["--debug"]);
    const debugIgvm = await planJson(["--debug", "--image-format", "igvm"]);

    // xtask/src/build.rs at v0.7.1: target/<debug|release>/migtd.<bin|igvm>.
    assert.equal(debug.outputs[0].path, "target/debug/migtd.bin");
    assert.equal(debugIgvm.outputs[0].path, "target/debug/migtd.igvm");
  });

  test("plan: user files are hashed", async () => {
    const planned = await planJson(CASES["user-files"]!);
    const policy = planned.inputs.find((input: { name: string }) => input.name === "policy");
    const bytes = await readFile(packagePath(FIXTURE, "inputs", "policy.json"));

    assert.equal(policy.origin, "user");
    assert.equal(policy.sha256, createHash("sha256").update(bytes).digest("hex"));
    assert.equal(policy.hostFile, `${FIXTURE}/inputs/policy.json`);
  });

  test("plan: user override moves Cargo home", async () => {
    const planned = await planJson(CASES["user-and-path"]!);

    assert.deepEqual(planned.user, { name: "builder", uid: 1000, gid: 1000, home: "/home/builder" });
    assert.equal(planned.sourcePath, "/home/builder/MigTD");
    assert.equal(planned.env.CARGO_HOME, "/home/builder/.cargo");
    assert.deepEqual(planned.persist, ["/home/builder/.cargo/registry", "/home/builder/.cargo/git"]);
    assert.equal(planned.builder.dockerfile.buildArgs.BUILD_UID, "1000");
    assert.equal(planned.builder.dockerfile.buildArgs.BUILD_HOME, "/home/builder");
  });

  test("plan: source folder shows toolchain", async () => {
    const planned = await planJson(["--source", `${FIXTURE}/source`]);

    assert.deepEqual(planned.source, { kind: "dir", dir: `${FIXTURE}/source` });
    assert.equal(planned.builder.dockerfile.sourceFiles[0].content, '[toolchain]\nchannel = "1.88.0"\n');
    assert.equal(planned.env.MIGTD_REPRO_SOURCE_REV, "");
    const rootCa = planned.inputs.find((input: { name: string }) => input.name === "root-ca");
    const bytes = await readFile(packagePath(FIXTURE, "source", "config", "Intel_SGX_Provisioning_Certification_RootCA.cer"));
    assert.equal(rootCa.sha256, createHash("sha256").update(bytes).digest("hex"));
  });
});

describe("plan errors", () => {
  const cases: [string, string[], RegExp][] = [
    ["unknown preset", ["--preset", "staging"], /no preset 'staging' \(presets: production, pre-production\)/],
    ["policy v2 without files", ["--policy-v2"], /input 'policy' is required with option 'policy-v2'/],
    ["issuer chain without v2", ["--policy-issuer-chain", `${FIXTURE}/inputs/policy_issuer_chain.pem`], /only used with option 'policy-v2'/],
    ["bad log level", ["--log-level", "loud"], /option 'log-level' must be one of/],
    ["bad image format", ["--image-format", "foo"], /option 'image-format' must be one of '', tdvf, igvm, not 'foo'/],
    ["tag without commit", ["--tag", "v0.7.0"], /needs its commit: give --rev/],
    ["short commit", ["--rev", "4b5eb43"], /full 40-digit/],
    ["folder and commit", ["--source", ".", "--rev", V070], /either --source or --rev/],
    ["bad user", ["--user", "root"], /NAME:UID:GID:HOME/],
    ["relative source path", ["--source-path", "MigTD"], /absolute folder path/],
    ["unknown flag", ["--bogus"], /^migtd-repro: plan: unknown option '--bogus' \(see 'migtd-repro plan --help'; a value that starts with '-' goes after '--'\)\n$/],
    ["missing input file", ["--policy", "/nonexistent/policy.json"], /cannot read \/nonexistent\/policy.json/],
    ["unknown recipe", ["--recipe", "nosuchguest"], /recipe 'nosuchguest' not found/],
  ];
  for (const [name, args, message] of cases) {
    test(`plan: rejects ${name}`, async () => {
      const result = await plan(args);

      assert.equal(result.exitCode, 2, result.stderr);
      assert.match(result.stderr, message);
      assert.equal(result.stdout, "");
    });
  }
});

describe("plan input files", () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "migtd-repro-plan-"));
    await execa("mkfifo", [join(dir, "policy.fifo")]);
    await writeFile(join(dir, "big.der"), "");
    await truncate(join(dir, "big.der"), 1024 * 1024 + 1);
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const cases: [string, () => string[], RegExp][] = [
    ["character device", () => ["--policy", "/dev/zero"], /input 'policy' \/dev\/zero is a character device, not a regular file/],
    ["FIFO", () => ["--policy", join(dir, "policy.fifo")], /policy\.fifo is a FIFO, not a regular file/],
    ["file over 1 MiB", () => ["--root-ca", join(dir, "big.der")], /big\.der is 1048577 bytes, larger than the 1 MiB limit/],
  ];
  for (const [name, args, message] of cases) {
    test(`plan: rejects ${name} as input`, async () => {
      const result = await execa(process.execPath, [MAIN, "plan", ...args()], {
        cwd: packageRoot(),
        reject: false,
        timeout: 10_000,
      });

      assert.equal(result.timedOut, false);
      assert.equal(result.exitCode, 2, result.stderr);
      assert.match(result.stderr, message);
      assert.equal(result.stderr.split("\n").length, 1, result.stderr);
    });
  }
});
