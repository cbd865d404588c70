// Bundles the compiled CLI (dist/cli/main.js, written by tsc) into
// dist/bin/, the folder that package.json's "bin" names. Node 20 has no
// compile cache, so every module a command loads is resolved, read and
// compiled at each start. docs/benchmarks.md has the timings behind each
// choice below.
//
// - dist/bin/migtd-repro.cjs, the command, is scripts/entry.cjs: it starts
//   `verify`'s digest worker, then runs dist/bin/cli.cjs.
// - dist/bin/cli.cjs contains all of the project's own code as one
//   CommonJS file. Each command's module only runs when main.ts picks the
//   command. A CommonJS entry also spares `hash` and `verify` the start of
//   Node's ES module loader (about 5 ms).
// - dockerode, pino, tar-stream and zod are bundled into one file each
//   under dist/bin/vendor/, which the CLI requires only when a command
//   imports them. Bundled, dockerode loads in 16 ms instead of 96 and pino
//   in 6 instead of 17. dockerode's SSH transport (ssh2) and BuildKit
//   session code (@grpc/grpc-js) load from node_modules on first use,
//   because the CLI rarely needs them and they take 70 ms together. The
//   bundled pino cannot start transports (they resolve by file path), so
//   the CLI uses pino-pretty as a stream instead.
// - Other packages stay external: octokit and execa are ES modules that
//   Node (20.19 and later) loads with require(), and pino-pretty is only
//   loaded to show `publish` progress on a terminal.
// - dist/bin/digest-worker.cjs is the worker thread that hashes an image
//   file for `verify` (cli/file-digests.ts), and dist/bin/digest-prestart.cjs
//   starts it. The bundle requires digest-prestart.cjs rather than
//   containing it, so that it uses the worker that the entry file started.
import { build } from "esbuild";
import { chmodSync, copyFileSync, readFileSync, rmSync } from "node:fs";
import { dirname, join, sep } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const outdir = join(root, "dist", "bin");
const lazy = join(root, "scripts", "lazy");

/** Packages bundled into dist/bin/vendor/NAME.cjs. */
const VENDORED = ["dockerode", "pino", "tar-stream", "zod"];
const cli = join(outdir, "cli.cjs");

rmSync(outdir, { recursive: true, force: true });

const common = {
  bundle: true,
  platform: "node",
  target: "node20",
  format: "cjs",
  logLevel: "warning",
};

// The project's code: vendored packages resolve to their bundle, other
// packages stay external. import.meta.url (config/package-root.ts,
// cli/file-digests.ts) becomes the bundle's own file URL.
await build({
  ...common,
  entryPoints: { cli: join(root, "dist", "cli", "main.js") },
  outdir,
  outExtension: { ".js": ".cjs" },
  define: { "import.meta.url": "__bundleUrl" },
  banner: { js: 'const __bundleUrl = require("node:url").pathToFileURL(__filename).href;' },
  plugins: [
    {
      name: "vendor",
      setup(build) {
        build.onResolve({ filter: /\/digest-prestart\.cjs$/ }, () => ({ path: "./digest-prestart.cjs", external: true }));
        build.onResolve({ filter: /^[^./]/ }, ({ path }) => {
          const name = packageName(path);
          if (path.startsWith("node:")) return { path, external: true };
          if (VENDORED.includes(name) && path === name) return { path: `./vendor/${name}.cjs`, external: true };
          return { path, external: true };
        });
      },
    },
  ],
});

// One file per vendored package. ssh2 and dockerode's BuildKit session are
// replaced by the shims in scripts/lazy/, which require the real modules
// from node_modules on first use.
for (const name of ["dockerode", "pino", "tar-stream"]) {
  await build({
    ...common,
    stdin: { contents: `module.exports = require(${JSON.stringify(name)});`, resolveDir: root, loader: "js" },
    outfile: join(outdir, "vendor", `${name}.cjs`),
    plugins: [
      {
        name: "lazy",
        setup(build) {
          build.onResolve({ filter: /^ssh2$/ }, () => ({ path: join(lazy, "ssh2.cjs") }));
          // The session shim's require of the real module stays a runtime require.
          build.onResolve({ filter: /^dockerode\/lib\// }, ({ path }) => ({ path, external: true }));
          // dockerode's BuildKit modules find .proto files through
          // __dirname, so they must run from node_modules, not the bundle.
          build.onResolve({ filter: /^\.\/(session|buildkit)$/ }, ({ path, importer }) => {
            if (!importer.includes(`${sep}dockerode${sep}lib${sep}`)) return undefined;
            if (path === "./session") return { path: join(lazy, "dockerode-session.cjs") };
            return { path: "dockerode/lib/buildkit.js", external: true };
          });
        },
      },
    ],
  });
}

// zod builds every locale and schema class when it loads (33 ms). The
// project's code only reaches zod as `z.MEMBER`, so the vendored zod
// exports just the members the CLI bundle uses, and esbuild leaves the
// rest out (7 ms). It also turns off zod's parser compilation (jitless).
const zodMembers = usedZodMembers(readFileSync(cli, "utf8"));
await build({
  ...common,
  stdin: {
    contents:
      `import { config, ${zodMembers.map((m) => `${m} as ${m}_`).join(", ")} } from "zod";\n` +
      // The CLI parses each schema once or twice per run, where compiling a
      // parser (zod's default) costs more than it saves: 6 ms on \`plan\`.
      "config({ jitless: true });\n" +
      `export const z = { ${zodMembers.map((m) => `${m}: ${m}_`).join(", ")} };\n`,
    resolveDir: root,
    loader: "js",
  },
  outfile: join(outdir, "vendor", "zod.cjs"),
});

await build({
  ...common,
  entryPoints: {
    "digest-worker": join(root, "dist", "cli", "digest-worker.cjs"),
    "digest-prestart": join(root, "dist", "cli", "digest-prestart.cjs"),
  },
  outdir,
  outExtension: { ".js": ".cjs" },
});

const entry = join(outdir, "migtd-repro.cjs");
copyFileSync(join(root, "scripts", "entry.cjs"), entry);
chmodSync(entry, 0o755);

/**
 * Lists the zod members that the CLI bundle reads, from esbuild's
 * `import_zod.z.MEMBER` references. Any other use of zod's exports (a
 * destructured or passed-on `z`, another export) would need members that
 * this cannot see, so it stops the build.
 */
function usedZodMembers(code) {
  const members = new Set();
  for (const [, member] of code.matchAll(/\bimport_zod\d*\.z\.([A-Za-z_$][\w$]*)/g)) members.add(member);
  // What is left after the member uses, the lazy require and the var
  // declarations must not mention zod's import.
  const rest = code
    .replace(/\bimport_zod\d*\.z\.[A-Za-z_$]/g, "")
    .replace(/\bimport_zod\d* = require\("\.\/vendor\/zod\.cjs"\)/g, "")
    .replace(/^var [^;\n]*;$/gm, (line) => line.replace(/\bimport_zod\d*(?=[,;])/g, ""));
  if (/\bimport_zod\d*\b/.test(rest) || members.size === 0) {
    throw new Error("bundle: the CLI uses zod other than as z.MEMBER; extend usedZodMembers in scripts/bundle.mjs");
  }
  return [...members].sort();
}

function packageName(specifier) {
  const parts = specifier.split("/");
  return specifier.startsWith("@") ? parts.slice(0, 2).join("/") : parts[0];
}
