// The build command end to end: spawns the compiled CLI against the real
// Docker engine and checks exit statuses, output and cleanup.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { copyFile, mkdir, readdir, readFile, truncate, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, test } from "node:test";
import Docker from "dockerode";
import { execa } from "execa";
import { packagePath } from "../../config/package-root.js";
import { loadBusyboxImage, type TestImage } from "../pipeline/busybox-image.js";
import {
  OVMF_FIXTURE,
  RA_DISABLED_MEASURE,
  removeTestRecipes,
  writeTestRecipe,
  type RecipeOverrides,
} from "../pipeline/test-recipe.js";

const CLI = packagePath("dist", "bin", "migtd-repro.cjs");
const docker = new Docker();
let image: TestImage;

before(async () => {
  image = await loadBusyboxImage(docker, `migtd-repro-test/busybox:cli-${process.pid}`);
});
after(async () => {
  await image.remove();
  await removeTestRecipes();
});

function runCli(args: string[], env: Record<string, string> = {}) {
  return execa(process.execPath, [CLI, ...args], { reject: false, env, stdin: "ignore" });
}

/** Writes a test recipe with a unique name that copies OVMF.fd to out/ovmf.bin after `script`. */
async function recipeWith(script: string, overrides: RecipeOverrides = {}) {
  const name = `cli-${randomBytes(4).toString("hex")}`;
  const recipe = await writeTestRecipe(image.id, image.tag, {
    name,
    phases: [{ name: "build", command: ["sh", "-c", `mkdir -p out && ${script} && cp OVMF.fd out/ovmf.bin`], network: false }],
    outputs: [{ path: "out/ovmf.bin", image: true, maxBytes: 4 * 1024 * 1024 }],
    measure: RA_DISABLED_MEASURE,
    ...overrides,
  });
  await copyFile(OVMF_FIXTURE, join(recipe.sourceDir, "OVMF.fd"));
  return { ...recipe, name };
}

async function containersOf(recipeName: string) {
  return docker.listContainers({ all: true, filters: { label: [`org.migtd-repro.recipe=${recipeName}`] } });
}

test("build cli: help documents options and statuses", async () => {
  const result = await runCli(["build", "--help"]);

  assert.equal(result.exitCode, 0);
  for (const option of ["--recipe", "--source", "--git", "--rev", "--input", "--option", "--out", "--rebuilds", "--timeout", "--memory", "--allow-unpinned", "--json"]) {
    assert.ok(result.stdout.includes(option), `help lacks ${option}`);
  }
  assert.match(result.stdout, /^  130 +interrupted/m);
  assert.match(result.stdout, /^  4 +the firmware build failed/m);
});

test("build cli: recipe help lists inputs", async () => {
  const recipe = await recipeWith("true", {
    inputs: { policy: { description: "migration policy file", path: "/opt/policy.json", format: "json", default: "src/hello.txt" } },
    options: { debug: { description: "debug variant", type: "boolean", default: false, env: "DEBUG" } },
  });
  const result = await runCli(["build", "--recipe", recipe.path, "--help"]);

  assert.equal(result.exitCode, 0);
  assert.match(result.stdout, /--input policy=FILE \(or --policy FILE\)/);
  assert.match(result.stdout, /migration policy file/);
  assert.match(result.stdout, /--option debug=VALUE \(or --debug\)/);
});

test("build cli: success prints json", async () => {
  const recipe = await recipeWith("true");
  const result = await runCli(["build", "--recipe", recipe.path, "--out", recipe.outDir, "--rebuilds", "1", "--json"]);

  assert.equal(result.exitCode, 0, result.stderr);
  const output = JSON.parse(result.stdout) as { reproducible: boolean; written: string[]; record: { recipe: { name: string } } };
  assert.equal(output.reproducible, true);
  assert.equal(output.record.recipe.name, recipe.name);
  assert.ok(output.written.includes(join(recipe.outDir, "ovmf.build.json")));
  assert.deepEqual(await containersOf(recipe.name), []);
});

test("build cli: generated input flag", async () => {
  const recipe = await recipeWith("cp /opt/policy.json out/policy.json", {
    inputs: { policy: { description: "migration policy file", path: "/opt/policy.json", format: "json" } },
    outputs: [
      { path: "out/ovmf.bin", image: true, maxBytes: 4 * 1024 * 1024 },
      { path: "out/policy.json", image: false, maxBytes: 1024 },
    ],
  });
  const policy = join(recipe.sourceDir, "..", "given.json");
  await execa("sh", ["-c", `echo '{"given": true}' > ${policy}`]);
  const result = await runCli(["build", "--recipe", recipe.path, "--out", recipe.outDir, "--rebuilds", "1", "--policy", policy]);

  assert.equal(result.exitCode, 0, result.stderr);
  assert.deepEqual((await readdir(recipe.outDir)).sort(), ["ovmf.bin", "ovmf.build.json", "ovmf.build.log", "ovmf.servtd_info_hash", "policy.json"]);
});

test("build cli: engine unreachable exits 3", async () => {
  const recipe = await recipeWith("true");
  const result = await runCli(["build", "--recipe", recipe.path, "--out", recipe.outDir], { DOCKER_HOST: "unix:///nonexistent/docker.sock" });

  assert.equal(result.exitCode, 3);
  assert.match(result.stderr, /no Docker engine answered at unix:\/\/\/nonexistent\/docker\.sock/);
  assert.equal(result.stderr.trim().split("\n").length, 1);
});

test("build cli: unpinned recipe exits 2", async () => {
  const recipe = await recipeWith("true", { builder: { image: undefined, tag: image.tag } });
  const result = await runCli(["build", "--recipe", recipe.path, "--out", recipe.outDir]);

  assert.equal(result.exitCode, 2);
  assert.match(result.stderr, /not pinned/);
  assert.equal(existsSync(recipe.outDir), false);
});

test("build cli: usage error exits 2", async () => {
  const result = await runCli(["build", "--git", "file:///tmp/x"]);

  assert.equal(result.exitCode, 2);
  assert.match(result.stderr, /--git needs --rev/);
});

test("build cli: bad values exit 2", async () => {
  const recipe = await recipeWith("true");
  const cases: Array<[string[], RegExp]> = [
    [["--memory", "4m"], /--memory must be at least 6m \(6291456 bytes\).*not '4m'/],
    [["--out", "/etc/passwd"], /--out \/etc\/passwd is an existing file, not a folder/],
    // Node's recursive mkdir never returns below /proc.
    [["--out", "/proc/migtd-repro-out"], /--out \/proc\/migtd-repro-out: cannot create the folder \/proc\/\.migtd-repro-out\.\w+\.partial beside it \(ENOENT/],
    [["--rebuilds", "21"], /--rebuilds must be a whole number from 1 to 20, not '21'/],
    [["--rebuilds", "1000000"], /--rebuilds must be a whole number from 1 to 20, not '1000000'/],
    [["--rebuilds", "-1"], /--rebuilds must be a whole number from 1 to 20, not '-1'/],
    [["--rebuilds=-1"], /--rebuilds must be a whole number from 1 to 20, not '-1'/],
    [["--cpus", "-2"], /--cpus takes a number from 0\.01 .* to \d+ \(the CPUs of this host\), not '-2'/],
    // The engine's minimum is 0.01 CPU, and the host has fewer than 100000 CPUs.
    [["--cpus", "0.001"], /--cpus takes a number from 0\.01 .*not '0\.001'/],
    [["--cpus", "100000"], /--cpus takes a number from 0\.01 .*not '100000'/],
    // 99999999999999999999 GiB is past the engine's int64 byte count.
    [["--memory", "99999999999999999999g"], /--memory must be at most 9007199254740991 bytes .*not '99999999999999999999g'/],
    // Node's timers take at most 2^31-1 ms, so 2147483 s is the maximum.
    [["--timeout", "2147484"], /--timeout must be at most 2147483 seconds.*not '2147484'/],
    [["--timeout", "2200000"], /--timeout must be at most 2147483 seconds.*not '2200000'/],
  ];
  for (const [args, message] of cases) {
    const result = await runCli(["build", "--recipe", recipe.path, "--out", recipe.outDir, ...args]);

    assert.equal(result.exitCode, 2, `${args.join(" ")}: ${result.stderr}`);
    assert.match(result.stderr, message);
    assert.equal(result.stderr.trim().split("\n").length, 1, result.stderr);
  }
  assert.deepEqual(await containersOf(recipe.name), []);
  assert.equal(existsSync(recipe.outDir), false);
});

test("build cli: special input files exit 2", async () => {
  const recipe = await recipeWith("true", {
    inputs: { policy: { description: "migration policy file", path: "/opt/policy.json", format: "json" } },
  });
  const fifo = join(recipe.sourceDir, "..", "policy.fifo");
  const big = join(recipe.sourceDir, "..", "big.json");
  await execa("mkfifo", [fifo]);
  await writeFile(big, "");
  await truncate(big, 1024 * 1024 + 1);
  const cases: Array<[string, RegExp]> = [
    ["/dev/zero", /input 'policy' \/dev\/zero is a character device, not a regular file; give a file/],
    [fifo, /policy\.fifo is a FIFO, not a regular file/],
    [big, /big\.json is 1048577 bytes, larger than the 1 MiB limit/],
  ];
  for (const [policy, message] of cases) {
    const result = await execa(
      process.execPath,
      [CLI, "build", "--recipe", recipe.path, "--out", recipe.outDir, "--rebuilds", "1", "--policy", policy],
      { reject: false, stdin: "ignore", timeout: 10_000 },
    );

    assert.equal(result.timedOut, false, policy);
    assert.equal(result.exitCode, 2, `${policy}: ${result.stderr}`);
    assert.match(result.stderr, message);
    assert.equal(result.stderr.trim().split("\n").length, 1, result.stderr);
  }
  assert.deepEqual(await containersOf(recipe.name), []);
});

test("build cli: failing command exits 4", async () => {
  const recipe = await recipeWith("echo compiling; echo 'error: boom' >&2; exit 7");
  const result = await runCli(["build", "--recipe", recipe.path, "--out", recipe.outDir, "--rebuilds", "1"]);

  assert.equal(result.exitCode, 4);
  assert.match(result.stderr, /exited with code 7/);
  assert.match(result.stderr, /^error: boom$/m);
  assert.equal(existsSync(recipe.outDir), false);
  assert.deepEqual(await containersOf(recipe.name), []);
});

test("build cli: unreproducible build exits 1", async () => {
  const recipe = await recipeWith("true", {
    phases: [
      {
        name: "build",
        command: ["sh", "-c", "mkdir -p out && cp OVMF.fd out/ovmf.bin && hostname | dd of=out/ovmf.bin bs=1 seek=64 conv=notrunc 2>/dev/null"],
        network: false,
      },
    ],
  });
  const result = await runCli(["build", "--recipe", recipe.path, "--out", recipe.outDir, "--rebuilds", "2"]);

  assert.equal(result.exitCode, 1, result.stderr);
  assert.match(result.stdout, /NOT reproducible/);
  assert.match(result.stdout, /migtd-repro diff /);
  assert.equal(existsSync(recipe.outDir), false);
});

/** Starts a build whose command sleeps, and waits until its container runs. */
async function startSleepingBuild() {
  const recipe = await recipeWith("echo started; sleep 60");
  const child = spawn(process.execPath, [CLI, "build", "--recipe", recipe.path, "--out", recipe.outDir, "--rebuilds", "1"], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  const output = { stderr: "" };
  child.stderr.on("data", (chunk: Buffer) => (output.stderr += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  const exitSignal = new Promise<NodeJS.Signals | null>((resolve) => child.on("exit", (_code, signal) => resolve(signal)));

  const deadline = Date.now() + 20_000;
  while ((await docker.listContainers({ filters: { label: [`org.migtd-repro.recipe=${recipe.name}`], status: ["running"] } })).length === 0) {
    assert.ok(Date.now() < deadline, "the build container never started");
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return { recipe, child, output, exited, exitSignal };
}

for (const signal of ["SIGINT", "SIGTERM"] as const) {
  test(`build cli: ${signal} exits 130, cleans up`, async () => {
    const { recipe, child, output, exited } = await startSleepingBuild();
    child.kill(signal);

    assert.equal(await exited, 130, output.stderr);
    assert.match(output.stderr, /interrupted/);
    assert.deepEqual(await containersOf(recipe.name), []);
    assert.equal(existsSync(recipe.outDir), false);
  });
}

test("build cli: second SIGINT removes containers", async () => {
  const { recipe, child, output, exited, exitSignal } = await startSleepingBuild();
  child.kill("SIGINT");
  await new Promise((resolve) => setTimeout(resolve, 50));
  child.kill("SIGINT");

  const code = await exited;
  const signal = await exitSignal;
  if (code === 130) {
    assert.match(output.stderr, /second signal: force-removed \d+ container|build interrupted/);
  } else {
    // Node restores the default signal action while the process tears
    // down, so a second signal that lands after the first cleanup has
    // finished can end the process by SIGINT. The cleanup must be done.
    assert.equal(signal, "SIGINT", output.stderr);
    assert.match(output.stderr, /build interrupted; its containers were removed/);
  }
  assert.deepEqual(await containersOf(recipe.name), []);
  assert.equal(existsSync(recipe.outDir), false);
});

test("build cli: --sign writes attestations", async () => {
  const recipe = await recipeWith("true");
  const key = join(recipe.dir, "signing.pem");
  await execa("openssl", ["genpkey", "-algorithm", "ed25519", "-out", key]);
  const result = await runCli(["build", "--recipe", recipe.path, "--out", recipe.outDir, "--rebuilds", "1", "--sign", key]);

  assert.equal(result.exitCode, 0, result.stderr);
  const files = await readdir(recipe.outDir);
  for (const name of ["ovmf.intoto.jsonl", "SHA256SUMS", "SHA384SUMS"]) {
    assert.ok(files.includes(name), `${name} missing from ${files.join(", ")}`);
  }
  const envelopes = (await readFile(join(recipe.outDir, "ovmf.intoto.jsonl"), "utf8")).trim().split("\n");
  assert.ok(envelopes.length >= 2);
  for (const line of envelopes) {
    assert.equal((JSON.parse(line) as { payloadType: string }).payloadType, "application/vnd.in-toto+json");
  }
});

test("build cli: rebuild removes stale attestations", async () => {
  const recipe = await recipeWith("true");
  const stale = ["ovmf.intoto.jsonl", "SHA256SUMS", "SHA384SUMS"];
  await mkdir(recipe.outDir);
  for (const name of [...stale, "notes.txt"]) await writeFile(join(recipe.outDir, name), "from an earlier build\n");
  const result = await runCli(["build", "--recipe", recipe.path, "--out", recipe.outDir, "--rebuilds", "1"]);

  assert.equal(result.exitCode, 0, result.stderr);
  const files = await readdir(recipe.outDir);
  for (const name of stale) {
    assert.ok(!files.includes(name), `stale ${name} was left`);
    assert.ok(result.stdout.includes(join(recipe.outDir, name)), result.stdout);
  }
  assert.ok(files.includes("ovmf.bin"));
  assert.ok(files.includes("notes.txt"), "an unrelated file was removed");
});

test("build cli: bad signing key fails early", async () => {
  const recipe = await recipeWith("true");
  const key = join(recipe.dir, "not-a-key.pem");
  await execa("sh", ["-c", `echo garbage > ${key}`]);
  const result = await runCli(["build", "--recipe", recipe.path, "--out", recipe.outDir, "--sign", key]);

  assert.equal(result.exitCode, 2);
  assert.ok(result.stderr.includes(key), result.stderr);
  assert.equal(existsSync(recipe.outDir), false);
  assert.deepEqual(await containersOf(recipe.name), []);
});
