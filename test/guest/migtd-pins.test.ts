import assert from "node:assert/strict";
import { readdir, readFile } from "node:fs/promises";
import { join, relative } from "node:path";
import { describe, test } from "node:test";
import { packagePath, packageRoot } from "../../config/package-root.js";

// These checks read the repository's own files with their own small
// parsers, independent of pipeline/plan.ts.

const DIGEST_REFERENCE = /^[a-z0-9][a-z0-9._/:-]*@sha256:[0-9a-f]{64}$/;
const IMAGE_ID = /^sha256:[0-9a-f]{64}$/;

async function listFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  const nested = await Promise.all(
    entries.map((entry) =>
      entry.isDirectory() ? listFiles(join(dir, entry.name)) : Promise.resolve([join(dir, entry.name)]),
    ),
  );
  return nested.flat();
}

async function packageFiles(): Promise<string[]> {
  const trees = await Promise.all(["guest", "docker"].map((name) => listFiles(packagePath(name))));
  return trees.flat();
}

function instructions(dockerfile: string): string[] {
  return dockerfile
    .replace(/\\\n/g, " ")
    .split("\n")
    .map((line) => line.trim())
    .filter((line) => line !== "" && !line.startsWith("#"));
}

describe("image and download pins", () => {
  test("pins: Dockerfile FROM lines use digests", async () => {
    const dockerfiles = (await packageFiles()).filter((path) => /(^|\/)([^/]*\.)?Dockerfile$/.test(path));
    assert.ok(dockerfiles.length >= 1, "at least the MigTD builder Dockerfile is checked");

    for (const path of dockerfiles) {
      const stages = new Set<string>();
      for (const line of instructions(await readFile(path, "utf8"))) {
        const match = /^FROM\s+(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?$/i.exec(line);
        if (!match) continue;
        const image = match[1]!;
        const pinned = image === "scratch" || stages.has(image) || DIGEST_REFERENCE.test(image);
        assert.ok(pinned, `${relative(packageRoot(), path)}: 'FROM ${image}' is not pinned by digest`);
        if (match[2]) stages.add(match[2]);
      }
    }
  });

  test("pins: Dockerfiles download nothing directly", async () => {
    const dockerfiles = (await packageFiles()).filter((path) => path.endsWith("Dockerfile"));

    for (const path of dockerfiles) {
      for (const line of instructions(await readFile(path, "utf8"))) {
        const where = `${relative(packageRoot(), path)}: ${line}`;
        assert.doesNotMatch(line, /^ADD\s+(--\S+\s+)*https?:/i, where);
        // A download tool in command position; package names in an apt list are fine.
        assert.doesNotMatch(line, /(^RUN\s+|&&\s*|;\s*|\|\s*|\$\(\s*)(curl|wget)\b/, where);
        assert.doesNotMatch(line, /\b(pip3? install|git clone)\b/, where);
        assert.doesNotMatch(line, /sh\.rustup\.rs/, where);
      }
    }
  });

  test("pins: only checksum-lock downloads files", async () => {
    const scripts = (await packageFiles()).filter((path) => path.includes("/guest/migtd/scripts/"));
    assert.ok(scripts.length >= 5, "the MigTD builder scripts are found");

    for (const path of scripts) {
      const name = relative(packageRoot(), path);
      const code = (await readFile(path, "utf8"))
        .split("\n")
        .filter((line) => !line.trim().startsWith("#"))
        .join("\n");
      if (!name.endsWith("/checksum-lock")) {
        assert.doesNotMatch(code, /\b(curl|wget)\b/, `${name} downloads without the checksum lock`);
      }
      for (const line of code.split("\n").filter((text) => /cargo install/.test(text))) {
        assert.match(line, /--locked/, `${name}: '${line.trim()}' must use --locked`);
      }
      for (const line of code.split("\n").filter((text) => /rustup toolchain install/.test(text))) {
        assert.ok(
          /RUSTUP_DIST_SERVER="file:/.test(code),
          `${name}: rustup installs '${line.trim()}' from somewhere other than the verified local mirror`,
        );
      }
    }
  });

  test("pins: apt uses a fixed snapshot", async () => {
    const dockerfile = await readFile(packagePath("guest", "migtd", "Dockerfile"), "utf8");
    const aptScript = await readFile(packagePath("guest", "migtd", "scripts", "apt-snapshot"), "utf8");

    assert.match(dockerfile, /^ARG APT_SNAPSHOT=\d{8}T\d{6}Z$/m);
    assert.match(aptScript, /snapshot\.ubuntu\.com\/ubuntu\/\$timestamp/);
    assert.match(aptScript, /checksum-lock" check/, "InRelease files are checked against the lock");
  });

  test("pins: checksum lock is well formed", async () => {
    const text = await readFile(packagePath("guest", "migtd", "checksums.lock"), "utf8");
    const urls: string[] = [];

    for (const line of text.split("\n").filter((entry) => entry !== "" && !entry.startsWith("#"))) {
      const match = /^([0-9a-f]{64}) {2}(https:\/\/\S+)$/.exec(line);
      assert.ok(match, `lock line '${line}' must be '<sha256>  <https URL>'`);
      urls.push(match[2]!);
    }
    assert.deepEqual(urls, [...urls].sort(), "entries are sorted by URL");
    assert.equal(new Set(urls).size, urls.length, "no URL has two entries");
  });

  test("pins: recipes pin images and packages", async () => {
    const recipes = (await packageFiles()).filter((path) => path.endsWith("/recipe.json"));
    assert.ok(recipes.length >= 1);

    for (const path of recipes) {
      const name = relative(packageRoot(), path);
      const recipe = JSON.parse(await readFile(path, "utf8"));
      const builder = recipe.builder;
      if (builder.image !== undefined) {
        assert.ok(
          IMAGE_ID.test(builder.image) || DIGEST_REFERENCE.test(builder.image),
          `${name}: builder.image '${builder.image}' is not an ID or digest`,
        );
      }
      if (builder.dockerfile) {
        assert.ok(builder.dockerfile.checksumLock, `${name}: a Dockerfile builder needs a checksum lock`);
      }
      for (const [pkg, version] of Object.entries(builder.rootfs?.packages ?? {})) {
        assert.match(String(version), /^[0-9A-Za-z.+~:-]+$/, `${name}: package ${pkg} needs an exact version`);
      }
      if (recipe.source.git !== undefined) {
        assert.match(recipe.source.rev, /^[0-9a-f]{40}$/, `${name}: git source needs a full commit`);
      }
    }
  });
});
