// Runs every compiled test file under dist/test with node's test runner.
// Node 20's `node --test` takes no glob, so the files are listed here.
// Extra arguments narrow the run: `npm test -- attest` runs dist/test/attest,
// and `npm test -- cli/verify.test.js` runs one file.
import { spawnSync } from "node:child_process";
import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";

function listTests(dir) {
  if (statSync(dir).isFile()) return [dir];
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return listTests(path);
    return entry.name.endsWith(".test.js") ? [path] : [];
  });
}

const roots = process.argv.slice(2);
const files = (roots.length ? roots : [""])
  .flatMap((root) => listTests(join("dist", "test", root)))
  .sort();

const result = spawnSync(
  process.execPath,
  ["--test", "--test-reporter=spec", ...files],
  { stdio: "inherit" },
);
process.exit(result.status ?? 1);
