import assert from "node:assert/strict";
import { once } from "node:events";
import { rm, writeFile } from "node:fs/promises";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, beforeEach, test } from "node:test";
import { publishRelease, type PublishOptions } from "../../../pipeline/publish/publish.js";
import { GitHubMock } from "../../helpers/github-mock.js";
import type { MockRelease, MockRepository } from "../../helpers/github-mock-resources.js";
import { publishErrorOf } from "./publish-error.js";
import { makeReleaseFolder, type ReleaseFolder } from "./release-folder.js";

const UPLOAD = "repos/upload-release-asset";
const ASSET_ORDER = [
  "migtd.bin",
  "migtd.build.json",
  "migtd.servtd_info_hash",
  "migtd.intoto.jsonl",
  "migtd.build.log",
  "SHA256SUMS",
];

let mock: GitHubMock;
let repository: MockRepository;
let token: string;
let folder: ReleaseFolder;

beforeEach(async () => {
  mock = await GitHubMock.start();
  repository = mock.addRepository("acme/migtd");
  token = mock.addToken("write");
  folder = await makeReleaseFolder();
});

afterEach(async () => {
  await mock.close();
  await folder.remove();
});

function publish(overrides: Partial<PublishOptions> = {}) {
  return publishRelease({
    repo: "acme/migtd",
    tag: "v1.0.0",
    dir: folder.dir,
    token,
    verifyFolder: async () => {},
    ...overrides,
    client: { apiUrl: mock.origins.api, writeIntervalMs: 0, notificationIntervalMs: 0, retryUnitMs: 1, ...overrides.client },
  });
}

function releaseOf(tag: string): MockRelease {
  const release = repository.releases.find((candidate) => candidate.tag === tag);
  assert.ok(release, `the double has no release ${tag}`);
  return release;
}

/** Asserts that the release holds exactly the folder's files, complete and byte for byte. */
function assertReleaseMatchesFolder(release: MockRelease): void {
  assert.deepEqual(release.assets.map((asset) => asset.name).sort(), [...folder.files.keys()].sort());
  for (const asset of release.assets) {
    assert.equal(asset.state, "uploaded", `${asset.name} state`);
    assert.ok(asset.content.equals(folder.files.get(asset.name)!), `${asset.name} content`);
  }
}

test("publish: first run creates release", async () => {
  const result = await publish();

  assert.equal(result.release.created, true);
  assert.equal(result.release.draft, false);
  assert.deepEqual(result.assets.map((asset) => asset.name), ASSET_ORDER);
  assert.ok(result.assets.every((asset) => asset.action === "uploaded"));
  const release = releaseOf("v1.0.0");
  assert.equal(release.draft, false);
  assertReleaseMatchesFolder(release);
  assert.deepEqual(mock.violations, []);
});

test("publish: assets get their media types", async () => {
  await publish();

  const types = Object.fromEntries(releaseOf("v1.0.0").assets.map((asset) => [asset.name, asset.contentType]));
  assert.deepEqual(types, {
    "migtd.bin": "application/octet-stream",
    "migtd.build.json": "application/json",
    "migtd.intoto.jsonl": "application/jsonl",
    "migtd.servtd_info_hash": "text/plain; charset=utf-8",
    "migtd.build.log": "text/plain; charset=utf-8",
    SHA256SUMS: "text/plain; charset=utf-8",
  });
  assert.deepEqual(mock.violations, []);
});

test("publish: rerun skips identical assets", async () => {
  await publish();
  const second = await publish();

  assert.equal(second.release.created, false);
  assert.deepEqual(second.assets.map((asset) => asset.action), Array(ASSET_ORDER.length).fill("skipped"));
  assert.deepEqual(second.assets.map((asset) => asset.digestSource), Array(ASSET_ORDER.length).fill("api"));
  assert.equal(mock.count(UPLOAD), ASSET_ORDER.length);
  assert.equal(mock.count("repos/delete-release-asset"), 0);
  assert.equal(mock.count("repos/create-release"), 1);
  assert.deepEqual(mock.violations, []);
});

test("publish: rerun hashes assets lacking digest", async () => {
  mock.recordDigests = false;
  await publish();
  const second = await publish();

  assert.deepEqual(second.assets.map((asset) => asset.action), Array(ASSET_ORDER.length).fill("skipped"));
  assert.deepEqual(second.assets.map((asset) => asset.digestSource), Array(ASSET_ORDER.length).fill("download"));
  const downloads = mock.log.filter((entry) => entry.server === "objects");
  assert.equal(downloads.length, ASSET_ORDER.length);
  assert.ok(downloads.every((entry) => !entry.authorized), "the token reached the storage host");
  assert.equal(mock.count(UPLOAD), ASSET_ORDER.length);
  assert.deepEqual(mock.violations, []);
});

test("publish: failed upload converges on rerun", async () => {
  mock.inject({
    operationId: UPLOAD,
    assetName: "migtd.intoto.jsonl",
    fault: { kind: "drop-upload", afterBytes: 10 },
    times: 4,
  });

  const failure = await publishErrorOf(publish());
  assert.equal(failure.code, "network");
  assert.equal(failure.kind, "environment");
  // The first attempt and three retries, each after deleting the incomplete asset.
  assert.equal(mock.log.filter((entry) => entry.path.includes("name=migtd.intoto.jsonl")).length, 4);
  assert.equal(mock.count("repos/delete-release-asset"), 3);
  const partial = releaseOf("v1.0.0").assets.find((asset) => asset.name === "migtd.intoto.jsonl");
  assert.equal(partial?.state, "open");
  assert.equal(partial?.content.length, 10);
  assert.equal(releaseOf("v1.0.0").assets.some((asset) => asset.name === "SHA256SUMS"), false);

  const second = await publish();
  assert.deepEqual(
    second.assets.map((asset) => [asset.name, asset.action]),
    [
      ["migtd.bin", "skipped"],
      ["migtd.build.json", "skipped"],
      ["migtd.servtd_info_hash", "skipped"],
      ["migtd.intoto.jsonl", "replaced"],
      ["migtd.build.log", "uploaded"],
      ["SHA256SUMS", "uploaded"],
    ],
  );
  assertReleaseMatchesFolder(releaseOf("v1.0.0"));
  assert.deepEqual(mock.violations, []);
});

test("publish: dropped upload retried in run", async () => {
  mock.inject({ operationId: UPLOAD, assetName: "migtd.bin", fault: { kind: "drop-upload", afterBytes: 4096 } });

  const result = await publish();

  assert.equal(result.assets[0]?.action, "uploaded");
  assert.equal(mock.count("repos/delete-release-asset"), 1);
  assertReleaseMatchesFolder(releaseOf("v1.0.0"));
  assert.deepEqual(mock.violations, []);
});

test("publish: differing content is a conflict", async () => {
  const release = mock.addRelease(repository, "v1.0.0");
  const image = folder.files.get("migtd.bin")!;
  const altered = Buffer.from(image);
  altered[0] = altered[0]! ^ 0xff;
  mock.addAsset(release, "migtd.bin", altered);
  mock.addAsset(release, "SHA256SUMS", Buffer.from("shorter\n"));

  const failure = await publishErrorOf(publish());

  assert.equal(failure.code, "asset-conflict");
  assert.equal(failure.kind, "check-failed");
  assert.match(failure.message, /migtd\.bin \(sha256:[0-9a-f]{64} on GitHub, sha256:[0-9a-f]{64} here\)/);
  assert.match(failure.message, /SHA256SUMS \(size 8 on GitHub, \d+ here\)/);
  assert.match(failure.message, /--replace/);
  assert.equal(mock.count(UPLOAD), 0);
  assert.equal(mock.count("repos/delete-release-asset"), 0);
  assert.deepEqual(mock.violations, []);
});

test("publish: --replace overwrites differing asset", async () => {
  const release = mock.addRelease(repository, "v1.0.0");
  mock.addAsset(release, "migtd.bin", Buffer.from("an older image"));

  const result = await publish({ replace: true });

  assert.equal(result.assets[0]?.action, "replaced");
  assertReleaseMatchesFolder(releaseOf("v1.0.0"));
  assert.deepEqual(mock.violations, []);
});

test("publish: waits out primary rate limit", async () => {
  mock.inject({ operationId: "repos/get-release-by-tag", fault: { kind: "rate-limit", resetInSeconds: 1 } });

  const started = Date.now();
  const result = await publish();
  const elapsed = Date.now() - started;

  assert.equal(result.release.created, true);
  assert.ok(elapsed >= 1000, `retried after ${elapsed} ms, before x-ratelimit-reset`);
  assert.equal(mock.count("repos/get-release-by-tag"), 2);
  assert.deepEqual(mock.violations, []);
});

test("publish: waits out secondary rate limit", async () => {
  mock.inject({ operationId: "repos/create-release", fault: { kind: "secondary-rate-limit", retryAfterSeconds: 1 } });

  const started = Date.now();
  await publish();
  const elapsed = Date.now() - started;

  assert.ok(elapsed >= 1000, `retried after ${elapsed} ms, before retry-after`);
  assert.equal(mock.count("repos/create-release"), 2);
  assert.equal(repository.releases.length, 1);
  assert.deepEqual(mock.violations, []);
});

test("publish: long rate limit fails clearly", async () => {
  mock.inject({ operationId: "repos/get-release-by-tag", fault: { kind: "rate-limit", resetInSeconds: 3600 } });

  const failure = await publishErrorOf(publish({ client: { maxRateLimitWaitSeconds: 60 } }));

  assert.equal(failure.code, "rate-limited");
  assert.equal(failure.kind, "environment");
  assert.match(failure.message, /resets at \d{4}-\d\d-\d\dT/);
  assert.equal(mock.count("repos/get-release-by-tag"), 1);
  assert.deepEqual(mock.violations, []);
});

test("publish: 5xx then success", async () => {
  mock.inject({ operationId: "repos/list-release-assets", fault: { kind: "status", status: 502 } });
  mock.inject({ operationId: UPLOAD, assetName: "migtd.bin", fault: { kind: "status", status: 500 } });

  const result = await publish();

  assert.ok(result.assets.every((asset) => asset.action === "uploaded"));
  assert.equal(mock.count(UPLOAD), ASSET_ORDER.length + 1);
  assertReleaseMatchesFolder(releaseOf("v1.0.0"));
  assert.deepEqual(mock.violations, []);
});

test("publish: persistent 5xx gives up", async () => {
  mock.inject({ operationId: "repos/get-release-by-tag", fault: { kind: "status", status: 503 }, times: 100 });

  const failure = await publishErrorOf(publish());

  assert.equal(failure.code, "server-error");
  assert.equal(failure.kind, "environment");
  assert.match(failure.message, /503/);
  // One request and the retry plugin's three retries.
  assert.equal(mock.count("repos/get-release-by-tag"), 4);
  assert.deepEqual(mock.violations, []);
});

test("publish: rejected token is 401", async () => {
  const failure = await publishErrorOf(publish({ token: "ghp_notissuedbythedouble" }));

  assert.equal(failure.code, "token-rejected");
  assert.equal(failure.kind, "environment");
  assert.match(failure.message, /401 Bad credentials/);
  assert.doesNotMatch(failure.message, /ghp_notissuedbythedouble/);
  assert.deepEqual(mock.violations, []);
});

test("publish: missing token sends nothing", async () => {
  const failure = await publishErrorOf(publish({ token: undefined }));

  assert.equal(failure.code, "token-missing");
  assert.match(failure.message, /GITHUB_TOKEN or GH_TOKEN/);
  assert.equal(mock.log.length, 0);
});

test("publish: unknown repository is 404", async () => {
  const failure = await publishErrorOf(publish({ repo: "acme/nonexistent" }));

  assert.equal(failure.code, "repository-not-found");
  assert.equal(failure.kind, "invalid-input");
  assert.match(failure.message, /acme\/nonexistent/);
  assert.deepEqual(mock.violations, []);
});

test("publish: read-only token lacks permission", async () => {
  const failure = await publishErrorOf(publish({ token: mock.addToken("read") }));

  assert.equal(failure.code, "permission-denied");
  assert.match(failure.message, /"contents: write"/);
  assert.equal(repository.releases.length, 0);
  assert.deepEqual(mock.violations, []);
});

test("publish: unreachable API is network error", async () => {
  // A port that was just free: nothing listens there, so connections are refused.
  const server = createServer().listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));

  const failure = await publishErrorOf(publish({ client: { apiUrl: `http://127.0.0.1:${port}` } }));

  assert.equal(failure.code, "network");
  assert.equal(failure.kind, "environment");
  assert.match(failure.message, new RegExp(`no response from http://127\\.0\\.0\\.1:${port} \\(.*ECONNREFUSED`));
});

test("publish: draft release found on rerun", async () => {
  const first = await publish({ draft: true });
  const second = await publish({ draft: true });

  assert.equal(first.release.draft, true);
  assert.equal(releaseOf("v1.0.0").draft, true);
  assert.equal(second.release.created, false);
  assert.equal(second.release.id, first.release.id);
  assert.deepEqual(second.assets.map((asset) => asset.action), Array(ASSET_ORDER.length).fill("skipped"));
  assert.equal(repository.releases.length, 1);
  assert.deepEqual(mock.violations, []);
});

test("publish: draft found on second page", async () => {
  for (let index = 0; index < 120; index += 1) mock.addRelease(repository, `v0.0.${index}`);
  const draft = mock.addRelease(repository, "v1.0.0", { draft: true });

  const result = await publish();

  assert.equal(result.release.id, draft.id);
  assert.equal(result.release.created, false);
  assert.equal(repository.releases.length, 121);
  assert.ok(mock.log.some((entry) => entry.operationId === "repos/list-releases" && /[?&]page=2\b/.test(entry.path)));
  assertReleaseMatchesFolder(draft);
  assert.deepEqual(mock.violations, []);
});

test("publish: immutable release rejects new assets", async () => {
  mock.addRelease(repository, "v1.0.0", { immutable: true });

  const failure = await publishErrorOf(publish());

  assert.equal(failure.code, "release-immutable");
  assert.match(failure.message, /--draft/);
  assert.equal(mock.count(UPLOAD), 0);
  assert.deepEqual(mock.violations, []);
});

test("publish: failed verification sends nothing", async () => {
  const refusal = new Error("signature check failed");

  await assert.rejects(
    publish({
      verifyFolder: async () => {
        throw refusal;
      },
    }),
    refusal,
  );
  assert.equal(mock.log.length, 0);
});

test("publish: file changed after verification", async () => {
  const failure = await publishErrorOf(
    publish({
      verifyFolder: async (verified) => {
        await writeFile(verified.assets[0]!.path, "replaced after the check");
      },
    }),
  );

  assert.equal(failure.code, "folder-invalid");
  assert.match(failure.message, /migtd\.bin changed after it was verified/);
  assert.equal(mock.count(UPLOAD), 0);
  assert.deepEqual(mock.violations, []);
});

test("publish: folder without attestations", async () => {
  await rm(`${folder.dir}/migtd.intoto.jsonl`);

  const failure = await publishErrorOf(publish());

  assert.equal(failure.code, "folder-invalid");
  assert.match(failure.message, /migtd\.intoto\.jsonl \(sign the build with 'migtd-repro attest'\)/);
  assert.equal(mock.log.length, 0);
});

test("publish: invalid repository name", async () => {
  const failure = await publishErrorOf(publish({ repo: "acme" }));

  assert.equal(failure.code, "repository-invalid");
  assert.match(failure.message, /'acme'.*OWNER\/NAME/);
});
