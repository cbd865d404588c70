import { access, mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { isAbsolute, join } from "node:path";
import { diffImages } from "../attest/image-diff.js";
import { packagePath } from "../config/package-root.js";
import { fail, pass, type CheckResult, type VerifyReport } from "../attest/verify.js";

/**
 * Check 7 of `verify --rebuild`: builds the attested recipe again with the
 * attested options through the pipeline, and compares the new image, its
 * source digest and builder image with the attested ones. Loads the Docker
 * client, so `verify` imports this module only when --rebuild is given.
 * Without a Docker engine the pipeline raises an environment error (exit 3).
 *
 * NOTE: the rebuild uses the recipe's default input files (policy, root
 * CA), because the provenance records only their digests. A build made with
 * other input files therefore rebuilds to different bytes and fails here.
 */
export async function rebuildCheck(image: Uint8Array, report: VerifyReport): Promise<CheckResult> {
  const provenance = report.provenance[0];
  if (provenance === undefined || provenance.recipePath === undefined) {
    return fail("rebuild", "no trusted SLSA provenance with a recipe path to rebuild from", []);
  }

  // A missing engine is reported before any recipe or source work.
  const { connectEngine } = await import("../pipeline/engine.js");
  await connectEngine();

  const { runBuild } = await import("../pipeline/build.js");
  const out = await mkdtemp(join(tmpdir(), "migtd-repro-rebuild-"));
  try {
    const result = await runBuild({
      recipe: await recipeReference(provenance.recipePath),
      options: provenance.options,
      out,
      rebuilds: 1,
      terminal: process.stderr.isTTY ? process.stderr : undefined,
    });
    const output = result.record.outputs.find((file) => file.image)!;
    const rebuilt = await readFile(join(out, output.name));

    const details: string[] = [];
    if (provenance.builderImage !== undefined && result.record.builder.id !== provenance.builderImage) {
      details.push(`builder image is ${result.record.builder.id}, attested ${provenance.builderImage}`);
    }
    if (provenance.sourceDigest.sha256 !== result.record.source.digest) {
      details.push(`source digest is ${result.record.source.digest}, attested ${provenance.sourceDigest.sha256 ?? "(none)"}`);
    }
    details.push(...describeDifference(image, rebuilt));

    const summary = `rebuilt ${provenance.recipe ?? provenance.recipePath} in builder image ${result.record.builder.id}`;
    return details.length === 0
      ? pass("rebuild", `${summary}: identical bytes`)
      : fail("rebuild", `${summary}: the rebuild differs`, details);
  } finally {
    await rm(out, { recursive: true, force: true });
  }
}

/**
 * Resolves a recorded recipe path: a bundled recipe is recorded relative to
 * the package, a user's recipe as the user gave it.
 */
async function recipeReference(path: string): Promise<string> {
  if (isAbsolute(path)) return path;
  const bundled = packagePath(path);
  return (await access(bundled).then(() => true, () => false)) ? bundled : path;
}

function describeDifference(image: Uint8Array, rebuilt: Uint8Array): string[] {
  const diff = diffImages(image, rebuilt, { maxRanges: 10 });
  if (diff.identical) return [];

  const lines = [
    `${diff.differingBytes} bytes differ in ${diff.rangeCount} range(s); sizes ${diff.sizeA} and ${diff.sizeB}`,
  ];
  for (const [name, comparison] of [["MRTD", diff.mrtd], ["SERVTD_INFO_HASH", diff.servtdInfoHash]] as const) {
    if (comparison.differs) lines.push(`${name} is ${comparison.b ?? "(not measurable)"} after the rebuild, ${comparison.a ?? "(not measurable)"} in the image`);
  }
  for (const range of diff.ranges) {
    const regions = range.locations.map((location) => `${location.label} at +0x${location.offset.toString(16)}`);
    const where = regions.length === 0 ? "outside every section" : regions.join(", ");
    lines.push(`bytes 0x${range.start.toString(16)}..0x${range.end.toString(16)} differ: ${where}`);
  }
  if (diff.rangeCount > diff.ranges.length) lines.push(`${diff.rangeCount - diff.ranges.length} more range(s)`);
  return lines;
}
