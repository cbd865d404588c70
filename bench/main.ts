// Runs every benchmark module in this folder (files named *.bench.js once
// compiled) in one process, one after another, and prints their tables.
// Each module measures its subject side by side with a baseline in the same
// run and reports ratios, so figures from different machines compare.
import { readdirSync } from "node:fs";
import { dirname } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

interface BenchModule {
  run(): Promise<void>;
}

const here = dirname(fileURLToPath(import.meta.url));
const only = process.argv.slice(2);
const modules = readdirSync(here)
  .filter((name) => name.endsWith(".bench.js"))
  .filter((name) => only.length === 0 || only.some((word) => name.includes(word)))
  .sort();

for (const name of modules) {
  const module = (await import(pathToFileURL(`${here}/${name}`).href)) as BenchModule;
  console.log(`\n== ${name.replace(/\.bench\.js$/, "")}`);
  await module.run();
}
