import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { execa } from "execa";
import { packagePath } from "../../config/package-root.js";

// Runs install-toolchain on this host against a local stand-in for
// static.rust-lang.org and static.crates.io. rustup-init, rustup, rustc and
// cargo are shell scripts that record their calls; the test checks what
// the script downloads, what it lays out as rustup's local mirror, and how
// it calls rustup. It does not install a real toolchain.

const SCRIPT = packagePath("guest", "migtd", "scripts", "install-toolchain");
const HOST = "x86_64-unknown-linux-gnu";
const DATE = "2025-06-26";

function sha256(bytes: Buffer | string): string {
  return createHash("sha256").update(bytes).digest("hex");
}

/** Tarball stand-ins of one channel, by their path on the dist server. */
function components(channel: string): Record<string, Buffer> {
  const version = channel.startsWith("nightly") ? "nightly" : channel;
  const names = [
    `rustc-${version}-${HOST}.tar.xz`,
    `cargo-${version}-${HOST}.tar.xz`,
    `rust-std-${version}-${HOST}.tar.xz`,
    `rust-std-${version}-x86_64-unknown-none.tar.xz`,
    `rust-src-${version}.tar.xz`,
  ];
  return Object.fromEntries(names.map((name) => [`/dist/${DATE}/${name}`, Buffer.from(`stand-in ${name}\n`)]));
}

/** A channel manifest in rustup's v2 format naming the component stand-ins. */
function manifest(channel: string, files: Record<string, Buffer>): Buffer {
  const version = channel.startsWith("nightly") ? "nightly" : channel;
  const entry = (pkg: string, target: string, name: string) => {
    const path = `/dist/${DATE}/${name}`;
    return [
      `[pkg.${pkg}.target.${target}]`,
      "available = true",
      `xz_url = "https://static.rust-lang.org${path}"`,
      `xz_hash = "${sha256(files[path]!)}"`,
    ];
  };
  return Buffer.from(
    [
      'manifest-version = "2"',
      `date = "${DATE}"`,
      ...entry("rustc", HOST, `rustc-${version}-${HOST}.tar.xz`),
      ...entry("cargo", HOST, `cargo-${version}-${HOST}.tar.xz`),
      ...entry("rust-std", HOST, `rust-std-${version}-${HOST}.tar.xz`),
      ...entry("rust-std", "x86_64-unknown-none", `rust-std-${version}-x86_64-unknown-none.tar.xz`),
      ...entry("rust-src", '"*"', `rust-src-${version}.tar.xz`),
      "",
    ].join("\n"),
  );
}

// rustup-init stand-in: installs the rustup stand-in into CARGO_HOME/bin.
const RUSTUP_INIT = `#!/bin/sh
set -eu
echo "rustup-init $*" >>"$STANDIN_LOG"
mkdir -p "$CARGO_HOME/bin"
cp "$STANDIN_DIR/rustup" "$STANDIN_DIR/rustc" "$STANDIN_DIR/cargo" "$CARGO_HOME/bin/"
`;

// rustup stand-in: records its calls and, on install, the mirror it is given
// and whether the manifest's .sha256 file matches, as rustup checks it.
const RUSTUP = `#!/bin/sh
set -eu
echo "rustup $* | \${RUSTUP_DIST_SERVER:-}" >>"$STANDIN_LOG"
if [ "$1" = toolchain ]; then
  mirror=\${RUSTUP_DIST_SERVER#file://}
  (cd "$mirror" && find . -type f ! -name rustup-init | LC_ALL=C sort | xargs sha256sum) >"$STANDIN_DIR/mirror.txt"
  for sums in $(find "$mirror/dist" -name '*.toml.sha256'); do
    (cd "$(dirname "$sums")" && sha256sum -c "$(basename "$sums")" >/dev/null)
  done
fi
`;

const RUSTC = `#!/bin/sh
echo "rustc 0.0.0 (stand-in)"
`;

const CARGO = `#!/bin/sh
echo "cargo $*" >>"$STANDIN_LOG"
`;

let server: Server;
let base: string;
let work: string;
let served: Record<string, Buffer> = {};

before(async () => {
  server = createServer((request, response) => {
    const body = served[request.url ?? ""];
    response.writeHead(body ? 200 : 404).end(body ?? "not found\n");
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  work = await mkdtemp(join(tmpdir(), "migtd-toolchain-test-"));
});

after(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
  await rm(work, { recursive: true, force: true });
});

interface Setup {
  dir: string;
  lock: string;
  toolchainFile: string;
}

/** Serves a channel's files and writes a lock listing `locked` of them. */
async function setUp(name: string, channel: string, toolchainFile: string, locked: "all" | "none"): Promise<Setup> {
  const files = components(channel);
  const manifestPath = channel.startsWith("nightly")
    ? `/dist/${channel.slice("nightly-".length)}/channel-rust-nightly.toml`
    : `/dist/channel-rust-${channel}.toml`;
  served = {
    [`/rustup/archive/1.28.2/${HOST}/rustup-init`]: Buffer.from(RUSTUP_INIT),
    [manifestPath]: manifest(channel, files),
    ...files,
    "/crates/cargo-xbuild/cargo-xbuild-0.6.6.crate": await xbuildCrate(),
  };

  const dir = join(work, name);
  await mkdir(dir);
  for (const [file, content] of Object.entries({ rustup: RUSTUP, rustc: RUSTC, cargo: CARGO })) {
    await writeFile(join(dir, file), content, { mode: 0o755 });
  }
  const lock = join(dir, "checksums.lock");
  const lines = Object.entries(served).map(([path, bytes]) => `${sha256(bytes)}  ${base}${path}`);
  await writeFile(lock, locked === "all" ? `${lines.sort().join("\n")}\n` : "# empty\n");
  await writeFile(join(dir, "rust-toolchain"), toolchainFile);
  return { dir, lock, toolchainFile: join(dir, "rust-toolchain") };
}

/** A .crate (gzip tar) holding cargo-xbuild-0.6.6/Cargo.toml. */
async function xbuildCrate(): Promise<Buffer> {
  const root = join(work, "crate-src");
  await mkdir(join(root, "cargo-xbuild-0.6.6"), { recursive: true });
  await writeFile(join(root, "cargo-xbuild-0.6.6", "Cargo.toml"), '[package]\nname = "cargo-xbuild"\n');
  const archive = join(work, "cargo-xbuild-0.6.6.crate");
  await execa("tar", ["-C", root, "--sort=name", "--mtime=@0", "-czf", archive, "cargo-xbuild-0.6.6"]);
  return readFile(archive);
}

function install(setup: Setup, mode?: string) {
  const cargoHome = join(setup.dir, "cargo-home");
  return execa(SCRIPT, [setup.lock, setup.toolchainFile], {
    reject: false,
    env: {
      PATH: `${cargoHome}/bin:${process.env.PATH}`,
      CARGO_HOME: cargoHome,
      RUSTUP_HOME: join(setup.dir, "rustup-home"),
      RUSTUP_VERSION: "1.28.2",
      CARGO_XBUILD_VERSION: "0.6.6",
      RUST_DIST_SERVER: base,
      CRATES_DOWNLOAD_SERVER: base,
      STANDIN_DIR: setup.dir,
      STANDIN_LOG: join(setup.dir, "calls.log"),
      ...(mode ? { CHECKSUM_LOCK_MODE: mode } : {}),
    },
  });
}

async function calls(setup: Setup): Promise<string[]> {
  const text = await readFile(join(setup.dir, "calls.log"), "utf8").catch(() => "");
  return text.trim().split("\n").filter(Boolean);
}

describe("install-toolchain", () => {
  test("install-toolchain: stable toolchain from the mirror", async () => {
    const setup = await setUp("stable", "1.88.0", '[toolchain]\nchannel = "1.88.0"\n', "all");

    const result = await install(setup);

    assert.equal(result.exitCode, 0, result.stderr);
    const log = await calls(setup);
    assert.equal(log[0], "rustup-init -y --no-modify-path --profile minimal --default-toolchain none");
    assert.match(log[1]!, /^rustup toolchain install 1\.88\.0 --profile minimal --component rust-src --target x86_64-unknown-none \| file:\/\//);
    assert.match(log[2]!, /^rustup default 1\.88\.0 \| /);
    assert.deepEqual(log.slice(3), ["cargo --version"], "no cargo install for a stable toolchain");

    const mirror = (await readFile(join(setup.dir, "mirror.txt"), "utf8")).trim().split("\n");
    const manifestBytes = served["/dist/channel-rust-1.88.0.toml"]!;
    const expected = [
      `${sha256(manifestBytes)}  ./dist/channel-rust-1.88.0.toml`,
      `${sha256(`${sha256(manifestBytes)}  channel-rust-1.88.0.toml\n`)}  ./dist/channel-rust-1.88.0.toml.sha256`,
      ...Object.entries(components("1.88.0")).map(([path, bytes]) => `${sha256(bytes)}  .${path}`),
    ].sort((a, b) => a.split("  ")[1]!.localeCompare(b.split("  ")[1]!, "en"));
    assert.deepEqual(
      [...mirror].sort((a, b) => a.split("  ")[1]!.localeCompare(b.split("  ")[1]!, "en")),
      expected,
    );
  });

  test("install-toolchain: tampered tarball stops install", async () => {
    const setup = await setUp("tampered", "1.88.0", '[toolchain]\nchannel = "1.88.0"\n', "all");
    const path = `/dist/${DATE}/rust-src-1.88.0.tar.xz`;
    served[path] = Buffer.from("tampered rust-src\n");

    const result = await install(setup);

    assert.equal(result.exitCode, 1);
    assert.ok(result.stderr.includes(`sha256 mismatch for ${base}${path}`), result.stderr);
    const log = await calls(setup);
    assert.ok(!log.some((line) => line.startsWith("rustup toolchain")), "rustup never installs");
  });

  test("install-toolchain: write mode fills the lock", async () => {
    const setup = await setUp("write", "1.88.0", '[toolchain]\nchannel = "1.88.0"\n', "none");

    const result = await install(setup, "write");

    assert.equal(result.exitCode, 0, result.stderr);
    const urls = (await readFile(setup.lock, "utf8"))
      .split("\n")
      .filter((line) => line && !line.startsWith("#"))
      .map((line) => line.split("  ")[1]);
    const expected = [
      `/rustup/archive/1.28.2/${HOST}/rustup-init`,
      "/dist/channel-rust-1.88.0.toml",
      ...Object.keys(components("1.88.0")),
    ].map((path) => `${base}${path}`);
    assert.deepEqual(urls, [...expected].sort());
  });

  test("install-toolchain: empty lock is rejected", async () => {
    const setup = await setUp("enforce", "1.88.0", '[toolchain]\nchannel = "1.88.0"\n', "none");

    const result = await install(setup);

    assert.equal(result.exitCode, 1);
    assert.ok(result.stderr.includes(`no entry for ${base}/rustup/archive/1.28.2/${HOST}/rustup-init`), result.stderr);
    assert.deepEqual(await calls(setup), [], "rustup-init never runs");
  });

  test("install-toolchain: nightly adds cargo-xbuild", async () => {
    const setup = await setUp("nightly", "nightly-2023-08-28", "nightly-2023-08-28\n", "all");

    const result = await install(setup);

    assert.equal(result.exitCode, 0, result.stderr);
    const log = await calls(setup);
    assert.match(log[1]!, /^rustup toolchain install nightly-2023-08-28 --profile minimal /);
    assert.match(log[3]!, /^cargo install --locked --path \/.*\/cargo-xbuild$/);
  });
});
