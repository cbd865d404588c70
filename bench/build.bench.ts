// Whole-process `migtd-repro build --rebuilds 1` of the bundled guest, side
// by side with a plain `docker run` of the same command in the same builder
// image with the source and inputs bind-mounted. Both run the same nasm
// build. The ratio and the difference of the medians show what the
// pipeline adds: node start-up, recipe and source packing, container
// creation with archive copies in and out, output checks, measurement and
// the record. Goal: at most 1.3. Other load on the machine skews it, so
// the load average and core count are printed with the result.
import { spawnSync } from "node:child_process";
import { cpSync, mkdtempSync, rmSync } from "node:fs";
import { availableParallelism, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { packagePath } from "../config/package-root.js";
import { loadRecipe, recipeFile } from "../pipeline/recipe.js";

const RUNS = 9;
const CLI = packagePath("dist", "bin", "migtd-repro.cjs");

function timeCommand(command: string, args: string[]): number {
  const start = performance.now();
  const result = spawnSync(command, args, { encoding: "utf8" });
  const elapsed = performance.now() - start;
  if (result.status !== 0) {
    throw new Error(`${command} ${args.slice(0, 2).join(" ")} failed (${result.status}): ${result.stderr}`);
  }
  return elapsed;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

export async function run(): Promise<void> {
  const loaded = await loadRecipe("minitd");
  const { recipe } = loaded;
  const image = recipe.builder.image ?? recipe.builder.tag;
  const phase = recipe.phases[0]!;
  const dir = mkdtempSync(join(tmpdir(), "build-bench-"));

  try {
    // The plain run writes into its bind-mounted source, so it gets a copy.
    const source = join(dir, "src");
    const mounts = ["-v", `${source}:${recipe.sourcePath}`];
    for (const [name, input] of Object.entries(recipe.inputs)) {
      if (input.default === undefined) throw new Error(`input ${name} has no default`);
      mounts.push("-v", `${recipeFile(loaded, input.default)}:${input.path}:ro`);
    }
    const dockerArgs = [
      "run",
      "--rm",
      "--network",
      "none",
      "--user",
      `${recipe.user.uid}:${recipe.user.gid}`,
      "--workdir",
      recipe.sourcePath,
      "--env",
      `HOME=${recipe.user.home}`,
      "--env",
      `SOURCE_DATE_EPOCH=${recipe.sourceDateEpoch}`,
      ...mounts,
      image,
      ...phase.command,
    ];
    const pipelineArgs = [CLI, "build", "--rebuilds", "1", "--out", join(dir, "out")];

    const plain = () => {
      rmSync(source, { recursive: true, force: true });
      cpSync(recipeFile(loaded, "src"), source, { recursive: true });
      spawnSync("chown", ["-R", `${recipe.user.uid}:${recipe.user.gid}`, source]);
      return timeCommand("docker", dockerArgs);
    };
    const pipeline = () => timeCommand(process.execPath, pipelineArgs);

    plain();
    pipeline();
    const plainTimes: number[] = [];
    const pipelineTimes: number[] = [];
    for (let index = 0; index < RUNS; index++) {
      plainTimes.push(plain());
      pipelineTimes.push(pipeline());
    }

    const plainMedian = median(plainTimes);
    const pipelineMedian = median(pipelineTimes);
    console.log(`runs: ${RUNS} each, alternating; cores: ${availableParallelism()}; load: ${loadavg()[0]!.toFixed(2)}`);
    console.log(`docker run (bind mount)   median ${(plainMedian / 1000).toFixed(2)} s`);
    console.log(`migtd-repro build         median ${(pipelineMedian / 1000).toFixed(2)} s`);
    console.log(`ratio ${(pipelineMedian / plainMedian).toFixed(2)} (goal <= 1.3), fixed overhead ${((pipelineMedian - plainMedian) / 1000).toFixed(2)} s`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
