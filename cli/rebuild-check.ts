import { createHash } from "node:crypto";
import { access, mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { isAbsolute, join } from "node:path";
import { diffImages } from "../attest/image-diff.js";
import { packagePath } from "../config/package-root.js";
import type { ProvenanceSummary } from "../attest/provenance.js";
import { fail, pass, type CheckResult, type VerifyReport } from "../attest/verify.js";
import { BuildError } from "../pipeline/errors.js";
import { runInterruptible } from "./interrupt.js";
import { readInputFile } from "./io.js";

/**
 * The rebuild check of `verify --rebuild`: builds the attested recipe again with the
 * attested options through the pipeline, and compares the new image, its
 * source digest and builder image with the attested ones. Loads the Docker
 * client, so `verify` imports this module only when --rebuild is given.
 * Without a Docker engine the pipeline raises an environment error (exit 3).
 *
 * The provenance records only the digests of the input files (policy, root
 * CA), so the rebuild uses the recipe's defaults unless `inputs` (verify
 * --input NAME=FILE) names other files. Each file is compared with its
 * attested digest first, and a difference fails the check without a build.
 */
export async function rebuildCheck(
  image: Uint8Array,
  report: VerifyReport,
  inputs: Record<string, string> = {},
): Promise<CheckResult> {
  const provenance = report.provenance[0];
  if (provenance === undefined || provenance.recipePath === undefined) {
    return fail("rebuild", "no trusted SLSA provenance with a recipe path to rebuild from", []);
  }

  // A missing engine is reported before any recipe or source work.
  const { connectEngine } = await import("../pipeline/engine.js");
  await connectEngine();

  const recipe = await recipeReference(provenance.recipePath);
  const differences = await inputDifferences(recipe, provenance, inputs);
  if (differences.length > 0) {
    return fail("rebuild", "not rebuilt: the input files differ from the attested ones", differences);
  }

  const { runBuild, newBuildId } = await import("../pipeline/build.js");
  const out = await mkdtemp(join(tmpdir(), "migtd-repro-rebuild-"));
  try {
    const buildId = newBuildId();
    const result = await runInterruptible(buildId, (signal) =>
      runBuild({
        recipe,
        options: provenance.options,
        inputs,
        out,
        rebuilds: 1,
        buildId,
        signal,
        terminal: process.stderr.isTTY ? process.stderr : undefined,
      }),
    ).catch((error: unknown) => {
      if ((error as BuildError).code !== "interrupted") throw error;
      throw new BuildError("interrupted", "verify --rebuild interrupted; the rebuild's containers were removed", { cause: error });
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
 * Compares each attested input's SHA-256 with the file the rebuild would
 * use: the one given with --input, else the recipe's default. An input
 * whose default is read from the source tree is left to the rebuild, which
 * checks the source digest.
 */
async function inputDifferences(
  recipe: string,
  provenance: ProvenanceSummary,
  inputFiles: Record<string, string>,
): Promise<string[]> {
  const { loadRecipe, recipeFile } = await import("../pipeline/recipe.js");
  const loaded = await loadRecipe(recipe);
  const differences: string[] = [];

  for (const name of Object.keys(inputFiles)) {
    if (!(name in provenance.inputs)) {
      differences.push(`--input ${name}: the attested build had no input '${name}' (inputs: ${Object.keys(provenance.inputs).join(", ") || "none"})`);
    }
  }

  for (const [name, attested] of Object.entries(provenance.inputs)) {
    const spec = loaded.recipe.inputs[name];
    if (spec === undefined) {
      differences.push(`input ${name} is attested, but recipe ${loaded.path} has no input '${name}'`);
      continue;
    }

    const file = inputFiles[name] ?? (spec.default === undefined ? undefined : recipeFile(loaded, spec.default));
    if (file === undefined || attested === undefined) continue;
    const actual = createHash("sha256").update(readInputFile(file, `input ${name}`)).digest("hex");
    if (actual === attested) continue;

    differences.push(
      inputFiles[name] === undefined
        ? `input ${name} sha256 ${attested} is not the recipe default (${actual}); give it with --input ${name}=FILE`
        : `input ${name} ${file} has sha256 ${actual}, attested ${attested}`,
    );
  }
  return differences;
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
