import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { cpSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { packagePath } from "../../config/package-root.js";
import { runCli, temporaryDir } from "./attestation-cli.js";

// Builds the bundled minitd guest from a copy of its recipe in the real
// Docker engine, signs it, and checks `verify --rebuild` before and after
// the copy's source changes.
test("verify: --rebuild reproduces and detects change", { timeout: 900_000 }, () => {
  const root = temporaryDir("verify-rebuild-");
  cpSync(packagePath("guest", "minitd"), join(root, "guest", "minitd"), { recursive: true });
  cpSync(packagePath("config", "minitd"), join(root, "config", "minitd"), { recursive: true });
  const recipe = join(root, "guest", "minitd", "recipe.json");
  const out = join(root, "out");
  const image = join(out, "minitd.bin");

  const build = runCli(["build", "--recipe", recipe, "--out", out, "--rebuilds", "1"]);
  assert.equal(build.status, 0, build.stderr);
  assert.equal(runCli(["keygen", join(root, "k.pem")]).status, 0);
  const attest = runCli(["attest", image, "--key", join(root, "k.pem")]);
  assert.equal(attest.status, 0, attest.stderr);

  const same = runCli(["verify", image, "--key", join(root, "k.pub.pem"), "--rebuild"]);
  assert.equal(same.status, 0, same.stdout + same.stderr);
  assert.match(same.stdout, /^  ok    rebuild +rebuilt minitd 0\.1\.0 in builder image sha256:[0-9a-f]{64}: identical bytes$/m);

  const payload = join(root, "guest", "minitd", "src", "payload.inc");
  writeFileSync(payload, readFileSync(payload, "utf8").replaceAll('db "minitd "', 'db "mintd! "'));
  const changed = runCli(["verify", image, "--key", join(root, "k.pub.pem"), "--rebuild"]);

  assert.equal(changed.status, 1, changed.stdout + changed.stderr);
  assert.match(changed.stdout, /^  FAIL  rebuild +rebuilt minitd 0\.1\.0 .*: the rebuild differs$/m);
  assert.match(changed.stdout, /- source digest is [0-9a-f]{64}, attested [0-9a-f]{64}$/m);
  assert.match(changed.stdout, /- \d+ bytes differ in 1 range\(s\); sizes 16777216 and 16777216$/m);
  assert.match(changed.stdout, /- bytes 0x[0-9a-f]+\.\.0x[0-9a-f]+ differ: TDVF section \d \(Payload\) at \+0x[0-9a-f]+$/m);
  assert.match(changed.stdout, /- MRTD is [0-9a-f]{96} after the rebuild, [0-9a-f]{96} in the image$/m);
  assert.doesNotMatch(changed.stdout, /verified/);
});

// A build made with its own --policy rebuilds only when verify is given the
// same file with --input; without it the attested digest stops the rebuild.
test("verify: --rebuild with --input policy", { timeout: 900_000 }, () => {
  const root = temporaryDir("verify-input-");
  const policy = join(root, "policy.json");
  writeFileSync(policy, '{"policy":"verify --input test","version":1}\n');
  const out = join(root, "out");
  const image = join(out, "minitd.bin");
  const build = runCli(["build", "--policy", policy, "--out", out, "--rebuilds", "1"]);
  assert.equal(build.status, 0, build.stderr);
  assert.equal(runCli(["keygen", join(root, "k.pem")]).status, 0);
  assert.equal(runCli(["attest", image, "--key", join(root, "k.pem")]).status, 0);
  const attested = execFileSync("sha256sum", [policy], { encoding: "utf8" }).split(" ")[0]!;

  const without = runCli(["verify", image, "--key", join(root, "k.pub.pem"), "--rebuild"]);
  const given = runCli(["verify", image, "--key", join(root, "k.pub.pem"), "--rebuild", "--input", `policy=${policy}`]);

  assert.equal(without.status, 1, without.stdout + without.stderr);
  assert.match(without.stdout, new RegExp(`- input policy sha256 ${attested} is not the recipe default \\([0-9a-f]{64}\\); give it with --input policy=FILE$`, "m"));
  assert.equal(given.status, 0, given.stdout + given.stderr);
  assert.match(given.stdout, /^  ok    rebuild +rebuilt minitd 0\.1\.0 in builder image sha256:[0-9a-f]{64}: identical bytes$/m);
});
