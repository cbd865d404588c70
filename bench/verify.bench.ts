// Whole-process `verify` of a 16 MiB MigTD-shaped image, side by side with
// `hash` of the same image. Both start node, load their modules, read the
// image and measure it. The ratio shows what verification adds: two file
// digests, signature checks and JSON parsing. Goal: at most 1.2. Other load
// on the machine skews it, so the load average and the core count are
// printed, and the minimum beside the median: the minimum is the run least
// disturbed by other processes.
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { availableParallelism, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { attestationStatements, signStatements } from "../attest/sign.js";
import { packagePath } from "../config/package-root.js";
import { makeBuildRecord, makeFixture, makeKeyPair } from "../test/attest/attestation-fixture.js";

const IMAGE_SIZE = 16 * 1024 * 1024;
const RUNS = 25;
const CLI = packagePath("dist", "bin", "migtd-repro.cjs");

function timeRun(args: string[]): number {
  const start = performance.now();
  const result = spawnSync(process.execPath, [CLI, ...args], { encoding: "utf8" });
  const elapsed = performance.now() - start;
  if (result.status !== 0) throw new Error(`${args[0]} failed: ${result.stderr}${result.stdout}`);
  return elapsed;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

export async function run(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "verify-bench-"));
  try {
    const fixture = makeFixture(IMAGE_SIZE);
    const key = makeKeyPair("ecdsa-p256");
    const image = join(dir, "release.bin");
    const publicKey = join(dir, "signing.pub.pem");
    const digests = {
      sha256: createHash("sha256").update(fixture.image).digest("hex"),
      sha384: createHash("sha384").update(fixture.image).digest("hex"),
    };
    const statements = attestationStatements(makeBuildRecord(fixture), digests);
    writeFileSync(image, fixture.image);
    writeFileSync(`${image}.intoto.jsonl`, signStatements(statements, [key.signingKey]));
    writeFileSync(publicKey, key.publicPem);

    const hashArgs = ["hash", "--image", image];
    const verifyArgs = ["verify", image, "--key", publicKey];
    timeRun(hashArgs);
    timeRun(verifyArgs);

    const hashTimes: number[] = [];
    const verifyTimes: number[] = [];
    for (let index = 0; index < RUNS; index++) {
      hashTimes.push(timeRun(hashArgs));
      verifyTimes.push(timeRun(verifyArgs));
    }

    const [load] = loadavg();
    console.log(`image ${IMAGE_SIZE / 1024 / 1024} MiB, ${RUNS} alternating runs each, wall time in ms`);
    console.log(`  ${availableParallelism()} cores, load average ${load!.toFixed(2)} at the end`);
    console.log("          median   minimum");
    for (const [name, times] of [["hash", hashTimes], ["verify", verifyTimes]] as const) {
      console.log(`  ${name.padEnd(6)}  ${median(times).toFixed(1).padStart(6)}   ${Math.min(...times).toFixed(1).padStart(6)}`);
    }
    const medianRatio = median(verifyTimes) / median(hashTimes);
    const minimumRatio = Math.min(...verifyTimes) / Math.min(...hashTimes);
    console.log(`  verify / hash: median ${medianRatio.toFixed(2)}, minimum ${minimumRatio.toFixed(2)} (goal <= 1.2)`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
