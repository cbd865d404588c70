import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { copyFileSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { packageRoot } from "../../config/package-root.js";
import { makeSignedFolder, temporaryDir } from "./attestation-cli.js";

// npm's --offline mode serves dependencies only from its cache and makes
// no network request; a dependency missing from the cache fails the test.
const OFFLINE_ENV = {
  ...process.env,
  npm_config_update_notifier: "false",
  MIGTD_REPRO_SIGNING_KEY: "",
};

function npm(args: string[], cwd: string) {
  const result = spawnSync("npm", args, { cwd, env: OFFLINE_ENV, encoding: "utf8" });
  assert.equal(result.status, 0, `npm ${args.join(" ")} failed:\n${result.stderr}`);
  return result;
}

test("pack: npx verify from the tarball", { timeout: 300_000 }, () => {
  const root = temporaryDir("migtd-repro-pack-");
  const packed = join(root, "packed");
  const app = join(root, "app");
  mkdirSync(packed);
  mkdirSync(app);

  npm(["pack", "--ignore-scripts", "--pack-destination", packed], packageRoot());
  const [tarball] = readdirSync(packed).filter((name) => name.endsWith(".tgz"));
  writeFileSync(join(app, "package.json"), JSON.stringify({ name: "app", version: "1.0.0", private: true }));
  npm(["install", "--offline", "--no-audit", "--no-fund", "--ignore-scripts", join(packed, tarball!)], app);

  const signed = makeSignedFolder("ed25519");
  copyFileSync(signed.image, join(app, "release.bin"));
  copyFileSync(join(signed.dir, "release.intoto.jsonl"), join(app, "release.bin.intoto.jsonl"));
  copyFileSync(signed.publicKey, join(app, "pub.pem"));
  const npx = (image: string) =>
    spawnSync("npx", ["--offline", "migtd-repro", "verify", image, "--key", "pub.pem"], {
      cwd: app,
      env: OFFLINE_ENV,
      encoding: "utf8",
    });

  const good = npx("release.bin");
  assert.equal(good.status, 0, good.stdout + good.stderr);
  assert.match(good.stdout, /^verified: release.bin$/m);

  const tampered = readFileSync(join(app, "release.bin"));
  tampered[0x40000] = tampered[0x40000]! ^ 0x80;
  writeFileSync(join(app, "tampered.bin"), tampered);
  copyFileSync(join(app, "release.bin.intoto.jsonl"), join(app, "tampered.bin.intoto.jsonl"));

  const bad = npx("tampered.bin");
  assert.equal(bad.status, 1, bad.stdout + bad.stderr);
  assert.doesNotMatch(bad.stdout + bad.stderr, /verified/);
});
