import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { chmod, cp, mkdir, mkdtemp, readdir, readFile, rm, stat, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { after, before, describe, test } from "node:test";
import { execa } from "execa";
import { packagePath, packageRoot } from "../../config/package-root.js";
import { makePlan, type Plan } from "../../pipeline/plan.js";

// Runs the MigTD recipe's phases, as `migtd-repro plan` resolves them,
// against a stand-in source tree in containers. The builder image is a
// stand-in too: Debian's busybox-static and bash-static, the recipe's own
// scripts at /opt/migtd-repro/bin as in guest/migtd/Dockerfile, and a
// `cargo` script that records how it was called and writes a 16 MiB
// target/<profile>/migtd.<ext>. No Rust code is compiled: this proves the
// orchestration (phases, network per phase, user, paths, environment,
// persisted Cargo home, input files, output collection), not MigTD's build.
//
// NOTE: the phases run through the docker CLI here. The pipeline's own
// runner gives network phases the "bridge" network, which an engine
// started with --bridge=none (as docker/setup-host.sh does) does not
// have, so this test gives the fetch phase the host's network namespace.

const FIXTURE = packagePath("test", "fixtures", "plan-golden");
const IMAGE_BYTES = 16 * 1024 * 1024;

// Stand-in for cargo: records each call, fills the persisted registry on
// `fetch`, and on `image` checks what the real build depends on before
// writing the image that upstream's xtask would write.
const FAKE_CARGO = `#!/bin/sh
set -eu
root=$PWD
while [ ! -f "$root/sh_script/preparation.sh" ]; do
  [ "$root" != / ] || { echo "stand-in cargo: no MigTD source above $PWD" >&2; exit 101; }
  root=$(dirname "$root")
done
log="$root/target/stand-in/calls.log"
mkdir -p "$root/target/stand-in"
interfaces=$(ls /sys/class/net | tr '\\n' ' ')
printf '%s|%s|%s|%s|%s\\n' "$(id -u):$(id -g)" "$PWD" "\${CARGO_NET_OFFLINE:-}" "$interfaces" "$*" >>"$log"
registry="$CARGO_HOME/registry/stand-in"
case "$*" in
  "fetch --locked")
    mkdir -p "$registry"
    echo fetched >"$registry/$(basename "$PWD")"
    exit 0
    ;;
  "--locked --offline image"*) shift 3 ;;
  *) echo "stand-in cargo: unexpected arguments: $*" >&2; exit 101 ;;
esac
for workspace in MigTD td-shim; do
  [ -f "$registry/$workspace" ] || { echo "stand-in cargo: $workspace was not fetched or the registry was not kept" >&2; exit 101; }
done
[ -f "$root/target/stand-in/prepared" ] || { echo "stand-in cargo: preparation.sh did not run" >&2; exit 101; }
profile=release
extension=bin
while [ $# -gt 0 ]; do
  case $1 in
    --debug) profile=debug ;;
    --no-default-features | --policy-v2) ;;
    --image-format) [ "$2" = igvm ] && extension=igvm; shift ;;
    --policy | --root-ca | --policy-issuer-chain | --metadata | --shim-layout | --image-layout)
      [ -r "$2" ] || { echo "stand-in cargo: $1 $2 is not readable" >&2; exit 101; }
      echo "input $1 $(sha256sum "$2" | cut -d ' ' -f 1)" >>"$log"
      shift
      ;;
    --features | --log-level | --platform) shift ;;
    *) echo "stand-in cargo: unknown image option $1" >&2; exit 101 ;;
  esac
  shift
done
mkdir -p "$root/target/$profile"
head -c ${IMAGE_BYTES} /dev/zero | tr '\\000' 'Z' >"$root/target/$profile/migtd.$extension"
`;

// Stand-in for upstream's preparation.sh, which is a bash script using
// pushd and popd, so it fails under a plain POSIX shell.
const FAKE_PREPARATION = `#!/bin/bash
set -e
pushd deps/td-shim >/dev/null
popd >/dev/null
mkdir -p target/stand-in
echo prepared >target/stand-in/prepared
`;

const suffix = randomBytes(4).toString("hex");
const IMAGE = `migtd-repro-test/migtd-standin:${suffix}`;
const VOLUMES = [`migtd-standin-registry-${suffix}`, `migtd-standin-git-${suffix}`];
let work: string;

async function docker(args: string[], options: { reject?: boolean } = {}) {
  return execa("docker", args, { reject: options.reject ?? true, stripFinalNewline: true });
}

/** Makes the stand-in builder root file system from Debian packages and imports it. */
async function makeStandInImage(): Promise<void> {
  const debs = join(work, "debs");
  const rootfs = join(work, "rootfs");
  await mkdir(debs, { recursive: true });
  await execa("apt-get", ["download", "busybox-static", "bash-static"], { cwd: debs });
  for (const deb of await readdir(debs)) {
    await execa("dpkg-deb", ["-x", join(debs, deb), rootfs]);
  }

  const applets = (await execa(join(rootfs, "bin", "busybox"), ["--list"])).stdout.split("\n");
  await mkdir(join(rootfs, "usr", "bin"), { recursive: true });
  for (const applet of applets.filter((name) => name && name !== "busybox")) {
    await symlink("/bin/busybox", join(rootfs, "usr", "bin", applet)).catch(() => undefined);
  }
  await symlink("/usr/bin/sh", join(rootfs, "bin", "sh")).catch(() => undefined);
  await symlink("/bin/bash-static", join(rootfs, "bin", "bash"));
  await mkdir(join(rootfs, "tmp"), { mode: 0o1777 });
  await mkdir(join(rootfs, "etc"), { recursive: true });
  await writeFile(join(rootfs, "etc", "passwd"), "root:x:0:0:root:/root:/bin/sh\n");

  // The recipe's scripts, where guest/migtd/Dockerfile puts them.
  await cp(packagePath("guest", "migtd", "scripts"), join(rootfs, "opt", "migtd-repro", "bin"), { recursive: true });
  for (const home of ["root", "home/builder"]) {
    const bin = join(rootfs, home, ".cargo", "bin");
    await mkdir(bin, { recursive: true });
    await writeFile(join(bin, "cargo"), FAKE_CARGO, { mode: 0o755 });
  }
  await chmod(join(rootfs, "home", "builder"), 0o777);

  const archive = join(work, "rootfs.tar");
  await execa("tar", ["-C", rootfs, "-cf", archive, "."]);
  await docker(["import", archive, IMAGE]);
}

/** Makes a stand-in MigTD source tree with the files the phases touch. */
async function makeSource(name: string): Promise<string> {
  const source = join(work, name);
  await mkdir(join(source, "deps", "td-shim"), { recursive: true });
  await mkdir(join(source, "sh_script"));
  await writeFile(join(source, "rust-toolchain"), '[toolchain]\nchannel = "1.88.0"\n');
  await writeFile(join(source, "deps", "td-shim", "rust-toolchain"), "1.88.0\n");
  await writeFile(join(source, "Cargo.lock"), "# stand-in MigTD Cargo.lock\nversion = 4\n");
  await writeFile(join(source, "deps", "td-shim", "Cargo.lock"), "# stand-in td-shim Cargo.lock\nversion = 4\n");
  await writeFile(join(source, "sh_script", "preparation.sh"), FAKE_PREPARATION, { mode: 0o755 });
  // Hand-written stand-ins for upstream's config/ files (see the fixture's README).
  await cp(join(FIXTURE, "source", "config"), join(source, "config"), { recursive: true });
  // Containers may run as another uid than the test; let them write.
  await execa("chmod", ["-R", "a+rwX", source]);
  return source;
}

interface PhaseRun {
  name: string;
  exitCode: number;
  stderr: string;
}

/** Runs a plan's phases in order, each in a new container, as the plan says. */
async function runPhases(plan: Plan, source: string, onlyPhases?: string[]): Promise<PhaseRun[]> {
  const runs: PhaseRun[] = [];
  for (const phase of plan.phases.filter((entry) => !onlyPhases || onlyPhases.includes(entry.name))) {
    const env = { ...plan.env, ...phase.env };
    const mounts = [
      "-v", `${source}:${plan.sourcePath}`,
      ...plan.persist.flatMap((path, index) => ["-v", `${VOLUMES[index]}:${path}`]),
      ...plan.inputs
        .filter((input) => input.hostFile !== undefined)
        .flatMap((input) => ["-v", `${resolve(packageRoot(), input.hostFile!)}:${input.containerPath}:ro`]),
    ];
    const result = await docker(
      [
        "run", "--rm",
        "--network", phase.network ? "host" : "none",
        "--user", `${plan.user.uid}:${plan.user.gid}`,
        "--workdir", plan.sourcePath,
        ...mounts,
        ...Object.entries(env).flatMap(([name, value]) => ["-e", `${name}=${value}`]),
        IMAGE,
        ...phase.command,
      ],
      { reject: false },
    );
    runs.push({ name: phase.name, exitCode: result.exitCode ?? -1, stderr: result.stderr });
    if (result.exitCode !== 0) break;
  }
  return runs;
}

/** Empties the persisted volumes between scenarios and lets any uid write them. */
async function resetVolumes(): Promise<void> {
  for (const volume of VOLUMES) {
    await docker(["run", "--rm", "--network", "none", "-v", `${volume}:/v`, IMAGE, "sh", "-c", "rm -rf /v/* && chmod 0777 /v"]);
  }
}

interface CargoCall {
  user: string;
  cwd: string;
  offline: string;
  interfaces: string[];
  args: string;
}

async function cargoCalls(source: string): Promise<{ calls: CargoCall[]; inputs: string[] }> {
  const lines = (await readFile(join(source, "target", "stand-in", "calls.log"), "utf8")).trim().split("\n");
  const calls = lines
    .filter((line) => !line.startsWith("input "))
    .map((line) => {
      const [user, cwd, offline, interfaces, args] = line.split("|");
      return { user: user!, cwd: cwd!, offline: offline!, interfaces: interfaces!.trim().split(" "), args: args! };
    });
  return { calls, inputs: lines.filter((line) => line.startsWith("input ")) };
}

function sha256(bytes: Buffer): string {
  return createHash("sha256").update(bytes).digest("hex");
}

const EXPECTED_IMAGE_SHA256 = sha256(Buffer.alloc(IMAGE_BYTES, "Z"));

before(async () => {
  work = await mkdtemp(join(tmpdir(), "migtd-standin-test-"));
  await makeStandInImage();
});

after(async () => {
  await docker(["volume", "rm", "-f", ...VOLUMES], { reject: false });
  await docker(["image", "rm", "-f", IMAGE], { reject: false });
  await rm(work, { recursive: true, force: true });
});

describe("migtd recipe with a stand-in cargo", () => {
  test("migtd stand-in: default build runs", async () => {
    const source = await makeSource("default");
    const plan = await makePlan({ recipe: "migtd", overrides: { sourceDir: source } });
    await resetVolumes();

    const runs = await runPhases(plan, source);

    assert.deepEqual(
      runs.map((run) => [run.name, run.exitCode]),
      [["verify-source", 0], ["prepare", 0], ["fetch", 0], ["build", 0], ["check-cargo-locks", 0]],
      runs.map((run) => `${run.name}: ${run.stderr}`).join("\n"),
    );
    assert.match(runs[0]!.stderr, /commit check skipped/);

    const { calls } = await cargoCalls(source);
    assert.deepEqual(
      calls.map((call) => [call.cwd, call.args]),
      [
        ["/root/MigTD", "fetch --locked"],
        ["/root/MigTD/deps/td-shim", "fetch --locked"],
        ["/root/MigTD", "--locked --offline image"],
      ],
    );
    const build = calls[2]!;
    assert.equal(build.user, "0:0");
    assert.equal(build.offline, "true");
    assert.deepEqual(build.interfaces, ["lo"], "the build phase has no network but loopback");
    assert.equal(calls[0]!.offline, "", "the fetch phase is not offline");

    const output = join(source, plan.outputs[0]!.path);
    assert.equal(plan.outputs[0]!.path, "target/release/migtd.bin");
    assert.equal((await stat(output)).size, IMAGE_BYTES);
    assert.ok(IMAGE_BYTES <= plan.outputs[0]!.maxBytes);
    assert.equal(sha256(await readFile(output)), EXPECTED_IMAGE_SHA256);
  });

  test("migtd stand-in: options reach cargo image", async () => {
    const source = await makeSource("options");
    const features = "vmcall-raw,stack-guard,test_disable_ra_and_accept_all";
    const plan = await makePlan({
      recipe: "migtd",
      options: { debug: true, "image-format": "igvm", "no-default-features": true, features },
      inputs: { policy: join(FIXTURE, "inputs", "policy.json") },
      overrides: { sourceDir: source },
    });
    await resetVolumes();

    const runs = await runPhases(plan, source);

    assert.ok(runs.every((run) => run.exitCode === 0), runs.map((run) => `${run.name}: ${run.stderr}`).join("\n"));
    const { calls, inputs } = await cargoCalls(source);
    const expectedArgs = plan.phases.find((phase) => phase.name === "build")!.command.slice(1).join(" ");
    assert.equal(calls[2]!.args, expectedArgs, "cargo ran the plan's build command");
    assert.equal(
      expectedArgs,
      `--locked --offline image --debug --no-default-features --features ${features} --image-format igvm --policy /opt/migtd-repro/inputs/policy.json`,
    );
    const policy = await readFile(join(FIXTURE, "inputs", "policy.json"));
    assert.deepEqual(inputs, [`input --policy ${sha256(policy)}`]);

    assert.equal(plan.outputs[0]!.path, "target/debug/migtd.igvm");
    assert.equal(sha256(await readFile(join(source, plan.outputs[0]!.path))), EXPECTED_IMAGE_SHA256);
    assert.equal(plan.measure.testDisableRaAndAcceptAll, true);
  });

  test("migtd stand-in: user and path override", async () => {
    const source = await makeSource("builder-user");
    const plan = await makePlan({
      recipe: "migtd",
      overrides: {
        sourceDir: source,
        user: { name: "builder", uid: 1000, gid: 1000, home: "/home/builder" },
        sourcePath: "/home/builder/MigTD",
      },
    });
    await resetVolumes();

    const runs = await runPhases(plan, source);

    assert.ok(runs.every((run) => run.exitCode === 0), runs.map((run) => `${run.name}: ${run.stderr}`).join("\n"));
    const { calls } = await cargoCalls(source);
    assert.equal(calls[2]!.user, "1000:1000");
    assert.equal(calls[2]!.cwd, "/home/builder/MigTD");
    assert.equal((await stat(join(source, "target", "release", "migtd.bin"))).size, IMAGE_BYTES);
  });

  test("migtd stand-in: changed Cargo.lock fails check", async () => {
    const source = await makeSource("changed-lock");
    const plan = await makePlan({ recipe: "migtd", overrides: { sourceDir: source } });
    await resetVolumes();
    const runs = await runPhases(plan, source, ["prepare", "fetch"]);
    assert.ok(runs.every((run) => run.exitCode === 0), runs.map((run) => `${run.name}: ${run.stderr}`).join("\n"));

    await writeFile(join(source, "deps", "td-shim", "Cargo.lock"), "# rewritten by a nested cargo build\n");
    const [check] = await runPhases(plan, source, ["check-cargo-locks"]);

    assert.equal(check!.exitCode, 1);
  });

  test("migtd stand-in: build without fetch fails", async () => {
    const source = await makeSource("no-fetch");
    const plan = await makePlan({ recipe: "migtd", overrides: { sourceDir: source } });
    await resetVolumes();

    const runs = await runPhases(plan, source, ["prepare", "build"]);

    assert.equal(runs[1]!.name, "build");
    assert.equal(runs[1]!.exitCode, 101);
    assert.match(runs[1]!.stderr, /MigTD was not fetched or the registry was not kept/);
  });
});
