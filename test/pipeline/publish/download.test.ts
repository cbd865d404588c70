import assert from "node:assert/strict";
import { access, mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterEach, beforeEach, test } from "node:test";
import { downloadReleaseAssets, withDownloadedRelease, type DownloadOptions } from "../../../pipeline/publish/download.js";
import { publishRelease } from "../../../pipeline/publish/publish.js";
import { GitHubMock } from "../../helpers/github-mock.js";
import type { MockRepository } from "../../helpers/github-mock-resources.js";
import { publishErrorOf } from "./publish-error.js";
import { makeReleaseFolder, type ReleaseFolder } from "./release-folder.js";

let mock: GitHubMock;
let repository: MockRepository;
let token: string;
let folder: ReleaseFolder;
let target: string;

beforeEach(async () => {
  mock = await GitHubMock.start();
  repository = mock.addRepository("acme/migtd");
  token = mock.addToken("write");
  folder = await makeReleaseFolder();
  target = await mkdtemp(join(tmpdir(), "migtd-repro-download-"));
});

afterEach(async () => {
  await mock.close();
  await folder.remove();
  await rm(target, { recursive: true, force: true });
});

async function publishFolder(): Promise<void> {
  await publishRelease({
    repo: "acme/migtd",
    tag: "v1.0.0",
    dir: folder.dir,
    token,
    verifyFolder: async () => {},
    client: { apiUrl: mock.origins.api, writeIntervalMs: 0, notificationIntervalMs: 0, retryUnitMs: 1 },
  });
}

function download(overrides: Partial<DownloadOptions> = {}) {
  return downloadReleaseAssets({
    repo: "acme/migtd",
    tag: "v1.0.0",
    dir: target,
    apiUrl: mock.origins.api,
    client: { retryUnitMs: 1 },
    ...overrides,
  });
}

test("download: round trip after publish", async () => {
  await publishFolder();

  const downloaded = await download({ token });

  assert.equal(downloaded.image, join(target, "migtd.bin"));
  assert.equal(downloaded.attestation, join(target, "migtd.intoto.jsonl"));
  assert.equal(downloaded.buildRecord, join(target, "migtd.build.json"));
  assert.equal(downloaded.servtdInfoHash, join(target, "migtd.servtd_info_hash"));
  assert.deepEqual(downloaded.checksums, [join(target, "SHA256SUMS")]);
  // The build log is published for readers but is not needed to verify.
  const expected = [...folder.files.keys()].filter((name) => name !== "migtd.build.log").sort();
  assert.deepEqual((await readdir(target)).sort(), expected);
  for (const name of expected) {
    assert.ok((await readFile(join(target, name))).equals(folder.files.get(name)!), `${name} content`);
  }
  assert.deepEqual(mock.violations, []);
});

test("download: token stays off storage host", async () => {
  await publishFolder();

  await download({ token });

  const api = mock.log.filter((entry) => entry.operationId === "repos/get-release-asset");
  const storage = mock.log.filter((entry) => entry.server === "objects");
  assert.equal(api.length, 5, "image, attestations, record, hash, SHA256SUMS");
  assert.ok(api.every((entry) => entry.status === 302 && entry.authorized));
  assert.equal(storage.length, 5);
  assert.ok(storage.every((entry) => entry.status === 200 && !entry.authorized));
});

test("download: public release without token", async () => {
  await publishFolder();

  const downloaded = await download();

  assert.ok((await readFile(downloaded.image)).equals(folder.files.get("migtd.bin")!));
  assert.ok(mock.log.filter((entry) => entry.server === "api").slice(-6).every((entry) => !entry.authorized));
  assert.deepEqual(mock.violations, []);
});

test("download: temporary folder removed after use", async () => {
  await publishFolder();
  let seen: string | undefined;

  const size = await withDownloadedRelease(
    { repo: "acme/migtd", tag: "v1.0.0", apiUrl: mock.origins.api, token, client: { retryUnitMs: 1 } },
    async (files) => {
      seen = files.image;
      return (await readFile(files.image)).length;
    },
  );

  assert.equal(size, folder.files.get("migtd.bin")!.length);
  assert.ok(seen !== undefined, "the callback never ran");
  assert.ok(seen.startsWith(tmpdir()), `${seen} is not under ${tmpdir()}`);
  await assert.rejects(access(dirname(seen)), { code: "ENOENT" });
});

test("download: private repository needs token", async () => {
  mock.addRepository("acme/private", { private: true });

  const failure = await publishErrorOf(download({ repo: "acme/private" }));

  assert.equal(failure.code, "repository-not-found");
  assert.match(failure.message, /acme\/private was not found on GitHub, or the token cannot see it/);
  assert.deepEqual(mock.violations, []);
});

test("download: missing release", async () => {
  const failure = await publishErrorOf(download({ token, tag: "v9.9.9" }));

  assert.equal(failure.code, "release-not-found");
  assert.equal(failure.kind, "invalid-input");
  assert.match(failure.message, /acme\/migtd has no release for tag v9\.9\.9/);
  assert.deepEqual(mock.violations, []);
});

test("download: release without attested image", async () => {
  const release = mock.addRelease(repository, "v1.0.0");
  mock.addAsset(release, "migtd.bin", Buffer.from("image"));

  const failure = await publishErrorOf(download({ token }));

  assert.equal(failure.code, "asset-not-found");
  assert.match(failure.message, /no image with a NAME\.intoto\.jsonl beside it; assets: migtd\.bin/);
});

test("download: several images need ASSET", async () => {
  const release = mock.addRelease(repository, "v1.0.0");
  for (const name of ["a.bin", "a.intoto.jsonl", "b.bin", "b.intoto.jsonl"]) {
    mock.addAsset(release, name, Buffer.from(name));
  }

  const failure = await publishErrorOf(download({ token }));
  const chosen = await download({ token, asset: "b.bin" });

  assert.equal(failure.code, "asset-not-found");
  assert.match(failure.message, /2 attested images \(a\.bin, b\.bin\); name one as ASSET/);
  assert.equal(await readFile(chosen.image, "utf8"), "b.bin");
  assert.equal(await readFile(chosen.attestation, "utf8"), "b.intoto.jsonl");
  assert.equal(chosen.buildRecord, undefined);
});

test("download: dropped connection leaves no file", async () => {
  await publishFolder();
  mock.droppedDownloads = 1;

  const failure = await publishErrorOf(download({ token }));

  assert.equal(failure.code, "network");
  assert.equal(failure.kind, "environment");
  assert.match(failure.message, /download of release asset migtd\.bin of acme\/migtd was interrupted \(.+\); run again/);
  assert.deepEqual(await readdir(target), []);
});

test("download: wrong digest leaves no file", async () => {
  await publishFolder();
  mock.rewriteResponse = (operationId, _status, body) => {
    if (operationId !== "repos/list-release-assets") return body;
    return (body as Array<Record<string, unknown>>).map((asset) => ({ ...asset, digest: `sha256:${"0".repeat(64)}` }));
  };

  const failure = await publishErrorOf(download({ token }));

  assert.equal(failure.code, "digest-mismatch");
  assert.equal(failure.kind, "check-failed");
  assert.match(failure.message, /migtd\.bin .* SHA-256 [0-9a-f]{64}, but GitHub lists sha256:0{64}/);
  assert.deepEqual(await readdir(target), []);
  assert.deepEqual(mock.violations, []);
});
