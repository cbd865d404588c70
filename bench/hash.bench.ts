// Whole-process time of `migtd-repro hash` on a 16 MiB MigTD-shaped image,
// side by side with `openssl dgst -sha384` over the same number of bytes
// that hash feeds to SHA-384, plus the start of an empty node process.
// Goal: ratio at most 1.25 and peak RSS at most twice the image size.
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { mrtdInputSize } from "../attest/mrtd.js";
import { parseTdMetadata } from "../attest/td-metadata.js";
import { TD_INFO_SIZE } from "../attest/td-info.js";
import { packagePath } from "../config/package-root.js";
import { buildMigtdImage, POLICY_GUID, ROOT_CA_GUID } from "../test/helpers/tdshim-image.js";

const IMAGE_SIZE = 16 * 1024 * 1024;
const CFV_SIZE = 0x40000;
const RUNS = 15;
const CLI = packagePath("dist", "bin", "migtd-repro.cjs");

export async function run(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "migtd-repro-bench-"));
  try {
    const { imagePath, hashedPath, hashedBytes } = prepare(dir);
    const hash = [process.execPath, CLI, "hash", "--image", imagePath];
    const openssl = ["openssl", "dgst", "-sha384", hashedPath];
    const emptyNode = [process.execPath, "-e", ""];

    const times = { hash: [] as number[], openssl: [] as number[], node: [] as number[] };
    for (let i = 0; i < RUNS; i++) {
      times.hash.push(wallTime(hash));
      times.openssl.push(wallTime(openssl));
      times.node.push(wallTime(emptyNode));
    }

    const hashMs = median(times.hash);
    const baselineMs = median(times.openssl) + median(times.node);
    const rssHash = peakRssKiB(hash);
    const rssNode = peakRssKiB(emptyNode);

    console.log(`image ${IMAGE_SIZE / 1048576} MiB, ${(hashedBytes / 1048576).toFixed(1)} MiB hashed, median of ${RUNS} runs each`);
    console.table({
      "migtd-repro hash": { "median ms": hashMs.toFixed(1) },
      "openssl dgst -sha384": { "median ms": median(times.openssl).toFixed(1) },
      "empty node": { "median ms": median(times.node).toFixed(1) },
    });
    console.log(`ratio hash / (openssl + empty node): ${(hashMs / baselineMs).toFixed(2)} (goal <= 1.25)`);
    if (rssHash !== null && rssNode !== null) {
      console.log(
        `peak RSS: hash ${(rssHash / 1024).toFixed(1)} MiB, empty node ${(rssNode / 1024).toFixed(1)} MiB, ` +
          `difference ${((rssHash - rssNode) / 1024).toFixed(1)} MiB (goal <= ${(2 * IMAGE_SIZE) / 1048576} MiB)`,
      );
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Writes the image and a file as long as the SHA-384 input hash computes. */
function prepare(dir: string) {
  const files = [
    { guid: POLICY_GUID, data: Buffer.alloc(8 * 1024, "{}") },
    { guid: ROOT_CA_GUID, data: Buffer.alloc(1400, 0x30) },
  ];
  const { image } = buildMigtdImage({ size: IMAGE_SIZE, cfvSize: CFV_SIZE, files });
  const imagePath = join(dir, "migtd.bin");
  writeFileSync(imagePath, image);

  // MRTD blocks, the two CFV files and their RTMR extends, TD_INFO.
  const rtmrExtends = 3 * 96 + 4;
  const hashedBytes = mrtdInputSize(parseTdMetadata(image)) + files.reduce((sum, f) => sum + f.data.length, 0) + rtmrExtends + TD_INFO_SIZE;
  const hashedPath = join(dir, "hashed.bin");
  writeFileSync(hashedPath, Buffer.alloc(hashedBytes, 0xa5));
  return { imagePath, hashedPath, hashedBytes };
}

function wallTime([command, ...args]: string[]): number {
  const started = process.hrtime.bigint();
  const result = spawnSync(command!, args, { stdio: ["ignore", "ignore", "pipe"] });
  const elapsed = Number(process.hrtime.bigint() - started) / 1e6;
  if (result.status !== 0) throw new Error(`${command} failed: ${result.stderr.toString()}`);
  return elapsed;
}

/** Peak resident set size from GNU time's %M, or null without /usr/bin/time. */
function peakRssKiB(command: string[]): number | null {
  const result = spawnSync("/usr/bin/time", ["-f", "%M", ...command], { encoding: "utf8", stdio: ["ignore", "ignore", "pipe"] });
  if (result.error !== undefined || result.status !== 0) return null;
  const lines = result.stderr.trim().split("\n");
  return Number(lines.at(-1));
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}
