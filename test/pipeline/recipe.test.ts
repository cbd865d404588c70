import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { execa } from "execa";
import { BuildError, type BuildErrorCode } from "../../pipeline/errors.js";
import { resolveInputs, resolveOptions } from "../../pipeline/parameters.js";
import { checkPinned, loadRecipe, recipePath, type LoadedRecipe } from "../../pipeline/recipe.js";
import { packagePath } from "../../config/package-root.js";

const folders: string[] = [];
after(async () => {
  for (const dir of folders) await rm(dir, { recursive: true, force: true });
});

const BASE = {
  name: "unit",
  version: "1",
  description: "unit test recipe",
  builder: { image: `sha256:${"a".repeat(64)}`, tag: "unit/builder:1" },
  user: { name: "builder", uid: 1000, gid: 1000, home: "/home/builder" },
  sourcePath: "/home/builder/src",
  source: { dir: "src" },
  sourceDateEpoch: 0,
  phases: [{ name: "build", command: ["true"] }],
  outputs: [{ path: "out/x.bin", image: true }],
};

async function writeRecipe(recipe: unknown): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "migtd-repro-unit-"));
  folders.push(dir);
  const path = join(dir, "recipe.json");
  await writeFile(path, typeof recipe === "string" ? recipe : JSON.stringify(recipe));
  return path;
}

async function expectCode(promise: Promise<unknown>, code: BuildErrorCode, message: RegExp): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof BuildError, String(error));
    assert.equal(error.code, code);
    assert.match(error.message, message);
    return true;
  });
}

test("recipePath: bundled name and paths", () => {
  assert.equal(recipePath("minitd"), packagePath("guest", "minitd", "recipe.json"));
  assert.equal(recipePath("/x/y/recipe.json"), "/x/y/recipe.json");
  assert.equal(recipePath("/x/y"), "/x/y/recipe.json");
});

test("loadRecipe: missing file names the path", async () => {
  await expectCode(loadRecipe("/nonexistent/recipe.json"), "recipe-not-found", /cannot read \/nonexistent\/recipe\.json/);
});

test("loadRecipe: invalid JSON and fields", async () => {
  await expectCode(loadRecipe(await writeRecipe("{")), "recipe-invalid", /not valid JSON/);
  await expectCode(
    loadRecipe(await writeRecipe({ ...BASE, user: { ...BASE.user, uid: -1 } })),
    "recipe-invalid",
    /invalid at user\.uid/,
  );
  await expectCode(
    loadRecipe(await writeRecipe({ ...BASE, outputs: [{ path: "a" }, { path: "b" }] })),
    "recipe-invalid",
    /exactly one output as the image/,
  );
  await expectCode(
    loadRecipe(await writeRecipe({ ...BASE, outputs: [{ path: "../x", image: true }] })),
    "recipe-invalid",
    /contain no '\.\.'/,
  );
});

test("loadRecipe: timeout above Node's timer limit", async () => {
  // Node's timers take at most 2^31-1 ms, so 2147483 s is the maximum.
  assert.equal((await loadRecipe(await writeRecipe({ ...BASE, timeoutSeconds: 2147483 }))).recipe.timeoutSeconds, 2147483);
  await expectCode(
    loadRecipe(await writeRecipe({ ...BASE, timeoutSeconds: 2147484 })),
    "recipe-invalid",
    /invalid at timeoutSeconds/,
  );
});

test("loadRecipe: FIFO as recipe rejected", async () => {
  const path = await writeRecipe("");
  await rm(path);
  await execa("mkfifo", [path]);

  await expectCode(loadRecipe(path), "input-invalid", /recipe\.json is a FIFO, not a regular file/);
});

test("loadRecipe: digest of the file", async () => {
  const path = await writeRecipe(BASE);
  const loaded = await loadRecipe(path);

  assert.equal(loaded.sha256, createHash("sha256").update(JSON.stringify(BASE)).digest("hex"));
  assert.equal(loaded.recipe.timeoutSeconds, 3600);
});

test("checkPinned: unpinned needs permission", async () => {
  const loaded = await loadRecipe(await writeRecipe({ ...BASE, builder: { tag: "unit/builder:1" } }));

  await expectCode(checkPinned(loaded, false), "unpinned", /--allow-unpinned/);
  assert.equal(await checkPinned(loaded, true), true);
  assert.equal(await checkPinned(await loadRecipe(await writeRecipe(BASE)), false), false);
});

async function withParameters(): Promise<LoadedRecipe> {
  const path = await writeRecipe({
    ...BASE,
    inputs: {
      policy: { description: "policy", path: "/in/policy.json", format: "json", default: "policy.json" },
      chain: { description: "chain", path: "/in/chain.pem", onlyWhen: "v2", requiredWhen: "v2" },
    },
    options: {
      v2: { description: "policy v2", type: "boolean", default: false, env: "V2" },
      level: { description: "level", type: "string", default: "info", env: "LEVEL", choices: ["info", "debug"] },
    },
  });
  await writeFile(join(path, "..", "policy.json"), '{"a":1}');
  return loadRecipe(path);
}

test("resolveOptions: types, choices, environment", async () => {
  const loaded = await withParameters();

  assert.deepEqual(resolveOptions(loaded, {}).env, { V2: "0", LEVEL: "info" });
  assert.deepEqual(resolveOptions(loaded, { v2: "true", level: "debug" }).values, { v2: true, level: "debug" });
  assert.throws(() => resolveOptions(loaded, { v2: "maybe" }), /boolean: give true or false, not 'maybe'/);
  assert.throws(() => resolveOptions(loaded, { level: "loud" }), /must be one of info, debug, not 'loud'/);
  assert.throws(() => resolveOptions(loaded, { colour: "red" }), /has no option 'colour' \(options: v2, level\)/);
});

test("resolveOptions: empty choice shown as ''", async () => {
  const loaded = await loadRecipe(
    await writeRecipe({
      ...BASE,
      options: { format: { description: "format", type: "string", default: "", env: "FORMAT", choices: ["", "tdvf", "igvm"] } },
    }),
  );

  assert.throws(() => resolveOptions(loaded, { format: "foo" }), /must be one of '', tdvf, igvm, not 'foo'/);
});

test("resolveInputs: defaults and conditions", async () => {
  const loaded = await withParameters();
  const selection = { files: {}, sourceFiles: {}, sourceRoot: loaded.dir, options: { v2: false } };

  const inputs = await resolveInputs(loaded, selection);
  assert.deepEqual(inputs.map((input) => input.name), ["policy"]);
  assert.equal(inputs[0]!.containerPath, "/in/policy.json");

  await expectCode(resolveInputs(loaded, { ...selection, options: { v2: true } }), "input-invalid", /input 'chain' is required with option 'v2'/);
  await expectCode(
    resolveInputs(loaded, { ...selection, files: { chain: join(loaded.dir, "policy.json") } }),
    "input-invalid",
    /only used with option 'v2'/,
  );
  const bad = join(loaded.dir, "bad.json");
  await writeFile(bad, "{not json");
  await expectCode(resolveInputs(loaded, { ...selection, files: { policy: bad } }), "input-invalid", /must be JSON but does not parse/);
});

test("applyOverrides: upper-case --rev is lowercased", async () => {
  const { applyOverrides } = await import("../../pipeline/resolve-recipe.js");
  const rev = "0123456789abcdef0123456789abcdef01234567";
  const loaded = applyOverrides(await loadRecipe("migtd"), { rev: rev.toUpperCase() });

  assert.ok("git" in loaded.recipe.source);
  assert.equal(loaded.recipe.source.rev, rev);
});
