import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { GitHubMock } from "../helpers/github-mock.js";
import { GitHubApiDescription } from "../helpers/github-openapi.js";

// The double is only as good as its check against GitHub's description:
// these tests feed it drifted responses and malformed requests and expect
// each to be reported.

let mock: GitHubMock;
let token: string;

before(async () => {
  mock = await GitHubMock.start();
  mock.addRepository("acme/migtd");
  token = mock.addToken("write");
});

after(async () => {
  await mock.close();
});

function takeViolations(): string[] {
  return mock.violations.splice(0);
}

async function call(method: string, path: string, body?: unknown, origin = mock.origins.api) {
  return fetch(`${origin}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
}

test("double: conforming calls leave no violations", async () => {
  const created = await call("POST", "/repos/acme/migtd/releases", { tag_name: "v0.1.0", draft: true });
  const listed = await call("GET", "/repos/acme/migtd/releases?per_page=100&page=1");

  assert.equal(created.status, 201);
  assert.equal(listed.status, 200);
  assert.deepEqual(takeViolations(), []);
});

test("double: catches release missing upload_url", async () => {
  mock.rewriteResponse = (operationId, _status, body) => {
    if (operationId !== "repos/create-release") return body;
    const { upload_url: _dropped, ...rest } = body as Record<string, unknown>;
    return rest;
  };
  try {
    await call("POST", "/repos/acme/migtd/releases", { tag_name: "v0.2.0" });
  } finally {
    mock.rewriteResponse = undefined;
  }

  const violations = takeViolations();
  assert.equal(violations.length, 1);
  assert.match(violations[0]!, /^repos\/create-release response 201: body must have required property 'upload_url'$/);
});

test("double: catches asset with wrong types", async () => {
  mock.rewriteResponse = (operationId, _status, body) =>
    operationId === "repos/list-releases"
      ? (body as Array<Record<string, unknown>>).map((release) => ({ ...release, id: String(release.id) }))
      : body;
  try {
    await call("GET", "/repos/acme/migtd/releases");
  } finally {
    mock.rewriteResponse = undefined;
  }

  const violations = takeViolations();
  assert.ok(violations.length > 0);
  assert.match(violations[0]!, /^repos\/list-releases response 200: body must be integer at \/0\/id$/);
});

test("double: rejects malformed request body", async () => {
  const response = await call("POST", "/repos/acme/migtd/releases", { tag_name: 7 });

  assert.equal(response.status, 400);
  assert.deepEqual(takeViolations(), ["repos/create-release request: body must be string at /tag_name"]);
});

test("double: rejects undeclared query parameter", async () => {
  const response = await call("GET", "/repos/acme/migtd/releases?per_page=10&sort=asc");

  assert.equal(response.status, 400);
  assert.deepEqual(takeViolations(), ["repos/list-releases request: query parameter sort is not declared"]);
});

test("double: rejects upload on API host", async () => {
  const response = await call("POST", "/repos/acme/migtd/releases/1/assets?name=x.bin", "x");

  assert.equal(response.status, 400);
  assert.match(takeViolations()[0]!, /repos\/upload-release-asset request: sent to the api host, but the description serves it from the uploads host/);
});

test("double: rejects upload without name", async () => {
  const response = await call("POST", "/repos/acme/migtd/releases/1/assets", "x", mock.origins.uploads);

  assert.equal(response.status, 400);
  assert.deepEqual(takeViolations(), ["repos/upload-release-asset request: query parameter name is required"]);
});

test("double: unknown path matches nothing", async () => {
  const response = await call("GET", "/repos/acme/migtd/release-notes");

  assert.equal(response.status, 404);
  assert.match(takeViolations()[0]!, /GET \/repos\/acme\/migtd\/release-notes on the api host matches no operation/);
});

test("description: asset digest required, nullable", () => {
  const description = GitHubApiDescription.load();
  const asset = {
    url: "https://api.github.com/repos/o/r/releases/assets/1",
    browser_download_url: "https://github.com/o/r/releases/download/v1/a.bin",
    id: 1,
    node_id: "RA_1",
    name: "a.bin",
    label: null,
    state: "uploaded",
    content_type: "application/octet-stream",
    size: 1,
    digest: null,
    download_count: 0,
    created_at: "2026-01-02T03:04:05Z",
    updated_at: "2026-01-02T03:04:05Z",
    uploader: null,
  };
  const { digest: _digest, ...withoutDigest } = asset;

  assert.deepEqual(description.checkComponent("release-asset", asset), []);
  assert.deepEqual(description.checkComponent("release-asset", { ...asset, digest: `sha256:${"a".repeat(64)}` }), []);
  assert.deepEqual(description.checkComponent("release-asset", withoutDigest), [
    "release-asset must have required property 'digest'",
  ]);
  assert.deepEqual(description.checkComponent("release-asset", { ...asset, state: "starter" }), [
    "release-asset must be equal to one of the allowed values at /state",
  ]);
});

test("description: tag parameter spans segments", () => {
  const description = GitHubApiDescription.load();

  const byTag = description.findOperation("GET", "/repos/o/r/releases/tags/release/v1", "api");
  const byId = description.findOperation("GET", "/repos/o/r/releases/42", "api");

  assert.equal(byTag?.operationId, "repos/get-release-by-tag");
  assert.deepEqual(byTag?.pathParams, { owner: "o", repo: "r", tag: "release/v1" });
  assert.equal(byId?.operationId, "repos/get-release");
});
