import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, test } from "node:test";
import { collectLocalRelease } from "../../../pipeline/publish/local-assets.js";
import { publishErrorOf } from "./publish-error.js";

let dir: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "migtd-repro-assets-"));
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Writes an image and the files `build` and `attest` put beside it, named after the image's stem. */
async function writeBuild(image: string, stem: string, outputs?: unknown): Promise<void> {
  const record = { outputs: outputs ?? [{ name: image, image: true }] };
  await writeFile(join(dir, image), "image bytes");
  await writeFile(join(dir, `${stem}.build.json`), JSON.stringify(record));
  await writeFile(join(dir, `${stem}.intoto.jsonl`), "{}\n");
  await writeFile(join(dir, `${stem}.servtd_info_hash`), `${"cd".repeat(48)}\n`);
}

test("local assets: image named by record", async () => {
  await writeBuild("migtd.igvm", "migtd");
  await writeFile(join(dir, "SHA384SUMS"), "");

  const release = await collectLocalRelease(dir);

  assert.equal(release.imageName, "migtd.igvm");
  assert.deepEqual(
    release.assets.map((asset) => [asset.name, asset.role]),
    [
      ["migtd.igvm", "image"],
      ["migtd.build.json", "build-record"],
      ["migtd.servtd_info_hash", "servtd-info-hash"],
      ["migtd.intoto.jsonl", "attestations"],
      ["SHA384SUMS", "checksums"],
    ],
  );
});

test("local assets: digests and sizes", async () => {
  await writeBuild("migtd.bin", "migtd");

  const image = (await collectLocalRelease(dir)).assets[0]!;

  assert.equal(image.size, 11);
  // printf 'image bytes' | sha256sum
  assert.equal(image.sha256, "de7030234493a8bea844dbe1d8676e68a2c1a4b014c721f0425a22b6df66faec");
  assert.equal(image.contentType, "application/octet-stream");
});

test("local assets: two builds need --name", async () => {
  await writeBuild("migtd.bin", "migtd");
  await writeBuild("minitd.bin", "minitd");

  const failure = await publishErrorOf(collectLocalRelease(dir));
  const chosen = await collectLocalRelease(dir, "minitd.bin");

  assert.equal(failure.code, "folder-invalid");
  assert.match(failure.message, /2 build records \(migtd\.build\.json, minitd\.build\.json\); choose the image with --name/);
  assert.equal(chosen.imageName, "minitd.bin");
});

test("local assets: --name must match record", async () => {
  await writeBuild("migtd.bin", "migtd");

  const failure = await publishErrorOf(collectLocalRelease(dir, "migtd.igvm"));

  assert.equal(failure.code, "folder-invalid");
  assert.match(failure.message, /--name is migtd\.igvm, but migtd\.build\.json records the image migtd\.bin/);
});

test("local assets: record must mark one image", async () => {
  await writeBuild("migtd.bin", "migtd", [
    { name: "migtd.bin", image: false },
    { name: "notes.txt", image: false },
  ]);

  const failure = await publishErrorOf(collectLocalRelease(dir));

  assert.equal(failure.code, "folder-invalid");
  assert.match(failure.message, /migtd\.build\.json marks 0 outputs as the image; expected one/);
});

test("local assets: image name stays in folder", async () => {
  await writeBuild("migtd.bin", "migtd", [{ name: "../migtd.bin", image: true }]);

  const failure = await publishErrorOf(collectLocalRelease(dir));

  assert.equal(failure.code, "folder-invalid");
  assert.match(failure.message, /'\.\.\/migtd\.bin' is not a plain file name/);
});

test("local assets: record that is not JSON", async () => {
  await writeBuild("migtd.bin", "migtd");
  await writeFile(join(dir, "migtd.build.json"), "not json");

  const failure = await publishErrorOf(collectLocalRelease(dir));

  assert.equal(failure.code, "folder-invalid");
  assert.match(failure.message, /^migtd\.build\.json is not a build record with outputs: /);
});
