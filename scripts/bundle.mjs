// Bundles the compiled CLI (dist/cli/main.js, written by tsc) into
// dist/bin/, the file that package.json's "bin" names. Node 20 has no
// compile cache, so every ES module a command loads is resolved, read and
// compiled at each start. `hash` loads about 19 of the project's modules
// unbundled and 12 files bundled (docs/benchmarks.md has the timings).
// Each lazy import() of a command stays its own chunk (splitting), so
// `hash`, `measure` and `verify` still never load the Docker or GitHub
// clients. Packages in node_modules stay external and load as before.
import { build } from "esbuild";
import { rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const outdir = join(root, "dist", "bin");

// Chunk names contain a content hash, so old chunks would pile up.
rmSync(outdir, { recursive: true, force: true });

await build({
  entryPoints: { "migtd-repro": join(root, "dist", "cli", "main.js") },
  outdir,
  bundle: true,
  splitting: true,
  format: "esm",
  platform: "node",
  target: "node20",
  packages: "external",
  chunkNames: "[name]-[hash]",
  logLevel: "warning",
});
