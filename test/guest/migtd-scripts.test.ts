import assert from "node:assert/strict";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { execa } from "execa";
import { packagePath } from "../../config/package-root.js";

const SCRIPTS = packagePath("guest", "migtd", "scripts");

let work: string;

before(async () => {
  work = await mkdtemp(join(tmpdir(), "migtd-scripts-test-"));
});

after(async () => {
  await rm(work, { recursive: true, force: true });
});

async function toolchainSpec(content: string) {
  const file = join(work, `rust-toolchain-${Math.random().toString(16).slice(2)}`);
  await writeFile(file, content);
  return execa(join(SCRIPTS, "rust-toolchain-spec"), [file], { reject: false });
}

describe("rust-toolchain-spec", () => {
  test("rust-toolchain-spec: TOML channel of v0.7.1", async () => {
    // intel/MigTD v0.7.1 rust-toolchain, byte for byte.
    const result = await toolchainSpec('[toolchain]\nchannel = "1.88.0"\n');

    assert.equal(result.exitCode, 0, result.stderr);
    assert.equal(result.stdout, "channel='1.88.0'\ncomponents=''\ntargets=''");
  });

  test("rust-toolchain-spec: legacy one-line nightly", async () => {
    // intel/MigTD v0.3.0 rust-toolchain.
    const result = await toolchainSpec("nightly-2023-08-28\n");

    assert.equal(result.exitCode, 0, result.stderr);
    assert.equal(result.stdout, "channel='nightly-2023-08-28'\ncomponents=''\ntargets=''");
  });

  test("rust-toolchain-spec: components and targets lists", async () => {
    const result = await toolchainSpec(
      '# pinned\n[toolchain]\nchannel = "nightly-2024-02-20"\ncomponents = [ "rustfmt",\n  "llvm-tools-preview" ]\ntargets = ["x86_64-unknown-uefi"]\nprofile = "minimal"\n',
    );

    assert.equal(result.exitCode, 0, result.stderr);
    assert.equal(
      result.stdout,
      "channel='nightly-2024-02-20'\ncomponents='rustfmt llvm-tools-preview'\ntargets='x86_64-unknown-uefi'",
    );
  });

  test("rust-toolchain-spec: rejects moving channels", async () => {
    for (const content of ["stable\n", '[toolchain]\nchannel = "1.88"\n', '[toolchain]\nchannel = "nightly"\n']) {
      const result = await toolchainSpec(content);

      assert.equal(result.exitCode, 1, content);
      assert.match(result.stderr, /not an exact release/, content);
    }
  });

  test("rust-toolchain-spec: rejects shell text in names", async () => {
    const result = await toolchainSpec(
      '[toolchain]\nchannel = "1.88.0"\ncomponents = ["rust-src$(touch /tmp/x)"]\n',
    );

    assert.equal(result.exitCode, 1);
    assert.match(result.stderr, /not a component or target name/);
  });

  test("rust-toolchain-spec: manifest paths by channel", async () => {
    const script = join(SCRIPTS, "rust-toolchain-spec");
    // static.rust-lang.org layout: stable manifests in dist/, dated ones in dist/DATE/.
    const cases: [string, string][] = [
      ["1.88.0", "dist/channel-rust-1.88.0.toml"],
      ["nightly-2023-08-28", "dist/2023-08-28/channel-rust-nightly.toml"],
      ["beta-2025-05-01", "dist/2025-05-01/channel-rust-beta.toml"],
    ];
    for (const [channel, path] of cases) {
      const result = await execa(script, ["--manifest-path", channel]);

      assert.equal(result.stdout, path, channel);
    }
  });

  test("rust-toolchain-spec: component URLs with renames", async () => {
    const manifest = join(work, "channel-rust-1.88.0.toml");
    // Shape of a rustup v2 channel manifest (manifest-version "2").
    await writeFile(
      manifest,
      [
        'manifest-version = "2"',
        '[pkg.rustc.target.x86_64-unknown-linux-gnu]',
        "available = true",
        'xz_url = "https://static.rust-lang.org/dist/2025-06-26/rustc-1.88.0-x86_64-unknown-linux-gnu.tar.xz"',
        '[pkg.rust-src.target."*"]',
        "available = true",
        'xz_url = "https://static.rust-lang.org/dist/2025-06-26/rust-src-1.88.0.tar.xz"',
        '[pkg.rust-std.target.x86_64-unknown-none]',
        "available = false",
        '[pkg.llvm-tools.target.x86_64-unknown-linux-gnu]',
        "available = true",
        'xz_url = "https://static.rust-lang.org/dist/2025-06-26/llvm-tools-1.88.0-x86_64-unknown-linux-gnu.tar.xz"',
        "[renames.llvm-tools-preview]",
        'to = "llvm-tools"',
        "",
      ].join("\n"),
    );
    const url = (pkg: string, target: string) =>
      execa(join(SCRIPTS, "rust-toolchain-spec"), ["--component-url", manifest, pkg, target], {
        reject: false,
      });

    assert.equal(
      (await url("rustc", "x86_64-unknown-linux-gnu")).stdout,
      "https://static.rust-lang.org/dist/2025-06-26/rustc-1.88.0-x86_64-unknown-linux-gnu.tar.xz",
    );
    assert.equal(
      (await url("rust-src", "*")).stdout,
      "https://static.rust-lang.org/dist/2025-06-26/rust-src-1.88.0.tar.xz",
    );
    assert.equal(
      (await url("llvm-tools-preview", "x86_64-unknown-linux-gnu")).stdout,
      "https://static.rust-lang.org/dist/2025-06-26/llvm-tools-1.88.0-x86_64-unknown-linux-gnu.tar.xz",
    );
    const unavailable = await url("rust-std", "x86_64-unknown-none");
    assert.equal(unavailable.exitCode, 1);
    assert.match(unavailable.stderr, /no available xz package 'rust-std'/);
  });
});

/** Runs git with a fixed identity so commits work on any host. */
function git(cwd: string, args: string[]) {
  return execa("git", ["-c", "user.name=test", "-c", "user.email=test@example.invalid", "-c", "protocol.file.allow=always", ...args], { cwd });
}

describe("verify-source", () => {
  let repo: string;
  let commit: string;

  before(async () => {
    const sub = join(work, "sub");
    repo = join(work, "repo");
    await mkdir(sub);
    await git(sub, ["init", "-q"]);
    await writeFile(join(sub, "lib.rs"), "// submodule\n");
    await git(sub, ["add", "."]);
    await git(sub, ["commit", "-q", "-m", "sub"]);

    await mkdir(repo);
    await git(repo, ["init", "-q"]);
    await writeFile(join(repo, "rust-toolchain"), '[toolchain]\nchannel = "1.88.0"\n');
    await git(repo, ["submodule", "add", "-q", sub, "deps/sub"]);
    await git(repo, ["add", "."]);
    await git(repo, ["commit", "-q", "-m", "top"]);
    await git(repo, ["tag", "v1.0.0"]);
    commit = (await git(repo, ["rev-parse", "HEAD"])).stdout.trim();
  });

  function verify(env: Record<string, string>) {
    return execa(join(SCRIPTS, "verify-source"), [], { cwd: repo, env, reject: false });
  }

  test("verify-source: accepts the requested commit", async () => {
    const result = await verify({ MIGTD_REPRO_SOURCE_REV: commit, MIGTD_REPRO_SOURCE_TAG: "v1.0.0" });

    assert.equal(result.exitCode, 0, result.stderr);
    assert.match(result.stderr, /clean submodules/);
  });

  test("verify-source: rejects another commit", async () => {
    const other = "f".repeat(40);
    const result = await verify({ MIGTD_REPRO_SOURCE_REV: other });

    assert.equal(result.exitCode, 1);
    assert.ok(result.stderr.includes(`HEAD is ${commit}, not the requested commit ${other}`), result.stderr);
  });

  test("verify-source: rejects a missing tag", async () => {
    const result = await verify({ MIGTD_REPRO_SOURCE_REV: commit, MIGTD_REPRO_SOURCE_TAG: "v9.9.9" });

    assert.equal(result.exitCode, 1);
    assert.match(result.stderr, /tag v9\.9\.9 is not in the checkout/);
  });

  test("verify-source: rejects a moved submodule", async () => {
    const subInRepo = join(repo, "deps", "sub");
    await writeFile(join(subInRepo, "lib.rs"), "// moved\n");
    await git(subInRepo, ["commit", "-q", "-am", "moved"]);
    try {
      const result = await verify({ MIGTD_REPRO_SOURCE_REV: commit });

      assert.equal(result.exitCode, 1);
      assert.match(result.stderr, /submodules not at the recorded commits: \+/);
    } finally {
      await git(subInRepo, ["reset", "-q", "--hard", "HEAD~1"]);
    }
  });

  test("verify-source: rejects modified tracked files", async () => {
    await writeFile(join(repo, "rust-toolchain"), "nightly-2023-08-28\n");
    try {
      const result = await verify({ MIGTD_REPRO_SOURCE_REV: commit });

      assert.equal(result.exitCode, 1);
      assert.match(result.stderr, /tracked files are modified: .*rust-toolchain/);
    } finally {
      await git(repo, ["checkout", "-q", "--", "rust-toolchain"]);
    }
  });

  test("verify-source: td-shim toolchain must match", async () => {
    const folder = join(work, "toolchains");
    await mkdir(join(folder, "deps", "td-shim"), { recursive: true });
    await writeFile(join(folder, "rust-toolchain"), '[toolchain]\nchannel = "1.88.0"\n');
    const run = () => execa(join(SCRIPTS, "verify-source"), [], { cwd: folder, env: { MIGTD_REPRO_SOURCE_REV: "" }, reject: false });

    // td-shim's rust-toolchain is one line, "1.88.0", at MigTD v0.7.1's submodule commit.
    await writeFile(join(folder, "deps", "td-shim", "rust-toolchain"), "1.88.0\n");
    const same = await run();
    await writeFile(join(folder, "deps", "td-shim", "rust-toolchain"), "1.83.0\n");
    const different = await run();

    assert.equal(same.exitCode, 0, same.stderr);
    assert.equal(different.exitCode, 1);
    assert.match(different.stderr, /deps\/td-shim\/rust-toolchain names 1\.83\.0 but the builder installs 1\.88\.0/);
  });

  test("verify-source: folder source skips the check", async () => {
    const result = await verify({ MIGTD_REPRO_SOURCE_REV: "" });

    assert.equal(result.exitCode, 0);
    assert.match(result.stderr, /commit check skipped/);
  });
});
