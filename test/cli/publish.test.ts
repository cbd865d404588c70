import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { moduleRecordingArgs } from "../helpers/cli.js";
import { GitHubMock } from "../helpers/github-mock.js";
import type { MockRepository } from "../helpers/github-mock-resources.js";
import { CLI, makeBuildFolder, makeSignedFolder, runCli } from "./attestation-cli.js";

// The CLI runs in a child process while the GitHub double serves it from
// this one, so the child is spawned asynchronously.

interface CliResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** An empty config folder, so no trusted key of the user running the tests is picked up. */
const CONFIG_HOME = mkdtempSync(join(tmpdir(), "migtd-repro-config-"));

function runCliAsync(args: string[], env: NodeJS.ProcessEnv = {}, nodeArgs: string[] = []): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...nodeArgs, CLI, ...args], {
      env: {
        ...process.env,
        GITHUB_TOKEN: "",
        GH_TOKEN: "",
        GITHUB_API_URL: "",
        MIGTD_REPRO_SIGNING_KEY: "",
        XDG_CONFIG_HOME: CONFIG_HOME,
        ...env,
      },
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    child.on("error", reject);
    child.on("close", (status) => resolve({ status, stdout, stderr }));
  });
}

let mock: GitHubMock;
let repository: MockRepository;
let token: string;

before(async () => {
  mock = await GitHubMock.start();
  repository = mock.addRepository("acme/migtd");
  token = mock.addToken("write");
});

after(async () => {
  await mock.close();
});

test("publish: --help lists options, exit statuses", () => {
  const result = runCli(["publish", "--help"]);

  assert.equal(result.status, 0);
  for (const option of ["--repo", "--tag", "--name", "--draft", "--replace", "--key", "--trusted-keys", "--api-url", "--json"]) {
    assert.match(result.stdout, new RegExp(`^  ${option} `, "m"), option);
  }
  for (const status of [0, 1, 2, 3]) assert.match(result.stdout, new RegExp(`^  ${status} `, "m"));
  assert.match(result.stdout, /GITHUB_TOKEN, GH_TOKEN/);
});

test("publish: signed folder round trip", async () => {
  const folder = makeSignedFolder();
  const args = ["publish", "--repo", "acme/migtd", "--tag", "v1.0.0", "--key", folder.publicKey, "--json", folder.dir];

  const first = await runCliAsync(args, { GH_TOKEN: token, GITHUB_API_URL: mock.origins.api });
  const second = await runCliAsync(args, { GH_TOKEN: token, GITHUB_API_URL: mock.origins.api });

  assert.equal(first.status, 0, first.stderr);
  const published = JSON.parse(first.stdout) as { assets: Array<{ name: string; action: string }> };
  const names = readdirSync(folder.dir).sort();
  assert.deepEqual(published.assets.map((asset) => asset.name).sort(), names);
  assert.ok(published.assets.every((asset) => asset.action === "uploaded"));

  const release = repository.releases.find((candidate) => candidate.tag === "v1.0.0")!;
  for (const name of names) {
    const asset = release.assets.find((candidate) => candidate.name === name);
    assert.ok(asset?.content.equals(readFileSync(join(folder.dir, name))), `${name} content`);
  }

  assert.equal(second.status, 0, second.stderr);
  const rerun = JSON.parse(second.stdout) as { assets: Array<{ action: string }> };
  assert.ok(rerun.assets.every((asset) => asset.action === "skipped"));
  assert.doesNotMatch(first.stderr + second.stderr, new RegExp(token));
  assert.deepEqual(mock.violations, []);
});

test("publish: tampered image exits 1", async () => {
  const folder = makeSignedFolder();
  const image = readFileSync(folder.image);
  image[image.length - 1] = image[image.length - 1]! ^ 0x01;
  writeFileSync(folder.image, image);
  const requests = mock.log.length;

  const result = await runCliAsync(
    ["publish", "--repo", "acme/migtd", "--tag", "v2.0.0", "--key", folder.publicKey, folder.dir],
    { GITHUB_TOKEN: token, GITHUB_API_URL: mock.origins.api },
  );

  assert.equal(result.status, 1, result.stderr);
  assert.match(result.stderr, /^migtd-repro: .* does not verify, so nothing was published: /m);
  assert.match(result.stderr, /SHA256SUMS gives release\.bin digest/);
  assert.equal(mock.log.length, requests, "publish sent requests for a folder that does not verify");
});

test("publish: untrusted key exits 1", async () => {
  const folder = makeSignedFolder();
  const other = makeBuildFolder();
  const requests = mock.log.length;

  const result = await runCliAsync(
    ["publish", "--repo", "acme/migtd", "--tag", "v3.0.0", "--key", other.publicKey, folder.dir],
    { GITHUB_TOKEN: token, GITHUB_API_URL: mock.origins.api },
  );

  assert.equal(result.status, 1, result.stderr);
  assert.match(result.stderr, /signatures: /);
  assert.equal(mock.log.length, requests);
});

test("publish: missing token exits 3", async () => {
  const folder = makeSignedFolder();

  const result = await runCliAsync(
    ["publish", "--repo", "acme/migtd", "--tag", "v1.0.0", "--key", folder.publicKey, folder.dir],
    { GITHUB_API_URL: mock.origins.api },
  );

  assert.equal(result.status, 3);
  assert.equal(
    result.stderr,
    'migtd-repro: no GitHub token: set GITHUB_TOKEN or GH_TOKEN to a token with "contents: write" permission on acme/migtd\n',
  );
});

test("publish: rejected token not printed", async () => {
  const folder = makeSignedFolder();
  const secret = "ghp_0123456789abcdefghijklmnopqrstuvwxyz";

  const result = await runCliAsync(
    ["publish", "--repo", "acme/migtd", "--tag", "v1.0.0", "--key", folder.publicKey, folder.dir],
    { GITHUB_TOKEN: secret, GITHUB_API_URL: mock.origins.api },
  );

  assert.equal(result.status, 3, result.stderr);
  assert.match(result.stderr, /GitHub rejected the token \(401 Bad credentials\)/);
  assert.doesNotMatch(result.stdout + result.stderr, /0123456789abcdef/);
});

test("publish: missing --repo exits 2", async () => {
  const result = await runCliAsync(["publish", "--tag", "v1.0.0", "out"]);

  assert.equal(result.status, 2);
  assert.equal(result.stderr, "migtd-repro: publish: --repo OWNER/NAME is required\n");
});

test("verify: local run loads no octokit", async () => {
  const folder = makeSignedFolder();
  const log = join(mkdtempSync(join(tmpdir(), "migtd-repro-loads-")), "modules.log");

  const result = await runCliAsync(["verify", "--key", folder.publicKey, folder.image], {}, moduleRecordingArgs(log));

  assert.equal(result.status, 0, result.stderr);
  const modules = readFileSync(log, "utf8").split("\n").filter(Boolean);
  assert.ok(modules.some((module) => module.endsWith("/dist/bin/migtd-repro.cjs")), "the hooks saw the CLI load");
  assert.deepEqual(modules.filter((module) => /octokit/.test(module)), []);
});

// verify --github downloads the release into a temporary folder through
// downloadReleaseAssets and verifies it; these tests run once verify has
// the option.
const verifyHasGitHub = runCli(["verify", "--help"]).stdout.includes("--github");
const needsGitHubOption = verifyHasGitHub ? false : "verify has no --github option in this build";

test("verify: --github round trip", { skip: needsGitHubOption }, async () => {
  const folder = makeSignedFolder();
  const env = { GITHUB_TOKEN: token, GITHUB_API_URL: mock.origins.api };
  const published = await runCliAsync(
    ["publish", "--repo", "acme/migtd", "--tag", "v4.0.0", "--key", folder.publicKey, folder.dir],
    env,
  );

  const verified = await runCliAsync(["verify", "--github", "acme/migtd", "--tag", "v4.0.0", "--key", folder.publicKey], env);

  assert.equal(published.status, 0, published.stderr);
  assert.equal(verified.status, 0, verified.stderr);
  assert.match(verified.stdout, /^verified: /m);
  assert.deepEqual(mock.violations, []);
});

test("verify: --github catches swapped image", { skip: needsGitHubOption }, async () => {
  const folder = makeSignedFolder();
  const env = { GITHUB_TOKEN: token, GITHUB_API_URL: mock.origins.api };
  await runCliAsync(["publish", "--repo", "acme/migtd", "--tag", "v5.0.0", "--key", folder.publicKey, folder.dir], env);
  const release = repository.releases.find((candidate) => candidate.tag === "v5.0.0")!;
  const image = release.assets.find((asset) => asset.name === "release.bin")!;
  image.content = Buffer.from(image.content);
  image.content[0] = image.content[0]! ^ 0xff;

  const result = await runCliAsync(["verify", "--github", "acme/migtd", "--tag", "v5.0.0", "release.bin", "--key", folder.publicKey], env);

  assert.equal(result.status, 1, result.stderr);
  assert.match(result.stdout, /FAIL/);
});
