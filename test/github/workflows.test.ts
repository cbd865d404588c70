import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { test } from "node:test";
import { packagePath } from "../../config/package-root.js";
import {
  checkCheckoutCredentials,
  checkPermissions,
  checkPinning,
  checkPinsAgainst,
  checkScriptExpressions,
  checkSecrets,
  checkTriggers,
  jobsOf,
  parseWorkflow,
  type PinnedAction,
} from "./workflow-rules.js";

type ActionValidator = typeof import("@action-validator/core");
const { validateWorkflow } = createRequire(import.meta.url)("@action-validator/core") as ActionValidator;

const WORKFLOWS = ["release.yml", "ci.yml"] as const;
const text = (name: string) => readFileSync(packagePath(".github", "workflows", name), "utf8");
const pins = JSON.parse(
  readFileSync(packagePath("test", "fixtures", "github-actions", "actions.json"), "utf8"),
) as Record<string, PinnedAction>;

type SchemaError = ReturnType<ActionValidator["validateWorkflow"]>["errors"][number];

/**
 * Validates against the workflow JSON schema bundled in
 * @action-validator/core and returns its errors, those nested under a
 * failed oneOf included, as "PATH TITLE DETAIL".
 */
function schemaErrors(source: string): string[] {
  // NOTE: @action-validator/core 0.6.0 bundles a SchemaStore schema from
  // before GitHub added the `attestations` permission, so that key is
  // removed before validation. checkPermissions checks it against GitHub's
  // documented list instead.
  const withoutAttestations = source.replace(/^\s+attestations:\s*(read|write|none)\s*$/gm, "");
  return validateWorkflow(withoutAttestations).errors.flatMap(describeSchemaError);
}

function describeSchemaError(error: SchemaError): string[] {
  const path = "path" in error ? error.path : "";
  const own = `${path} ${error.title} ${error.detail ?? ""}`.trim();
  const nested = "states" in error ? (error.states ?? []).flatMap((state) => state.errors.flatMap(describeSchemaError)) : [];
  return [own, ...nested];
}

for (const name of WORKFLOWS) {
  test(`${name}: passes the workflow schema`, () => {
    assert.deepEqual(schemaErrors(text(name)), []);
  });

  test(`${name}: actions pinned by commit`, () => {
    assert.deepEqual(checkPinning(text(name)), []);
    assert.deepEqual(checkPinsAgainst(text(name), pins), []);
  });

  test(`${name}: least-privilege permissions`, () => {
    assert.deepEqual(checkPermissions(parseWorkflow(text(name))), []);
  });

  test(`${name}: no fork-privileged triggers`, () => {
    assert.deepEqual(checkTriggers(parseWorkflow(text(name))), []);
    assert.doesNotMatch(text(name), /pull_request_target/);
  });

  test(`${name}: scripts take no expressions`, () => {
    assert.deepEqual(checkScriptExpressions(parseWorkflow(text(name))), []);
  });

  test(`${name}: checkout keeps credentials out`, () => {
    assert.deepEqual(checkCheckoutCredentials(parseWorkflow(text(name))), []);
  });
}

test("release.yml: secrets only in sign, publish", () => {
  const workflow = parseWorkflow(text("release.yml"));

  assert.deepEqual(checkSecrets(workflow, ["sign", "publish"]), []);
});

test("release.yml: signing key in one step", () => {
  const workflow = parseWorkflow(text("release.yml"));
  const holders = jobsOf(workflow).flatMap(([job, definition]) =>
    ((definition.steps ?? []) as Array<Record<string, unknown>>)
      .filter((step) => JSON.stringify(step.env ?? {}).includes("secrets.MIGTD_REPRO_SIGNING_KEY"))
      .map((step) => `${job}: ${String(step.name)}`),
  );

  assert.deepEqual(holders, ["sign: Sign attestations"]);
  assert.equal(text("release.yml").match(/secrets\.MIGTD_REPRO_SIGNING_KEY/g)?.length, 1);
});

test("release.yml: job permissions", () => {
  const workflow = parseWorkflow(text("release.yml"));
  const permissions = Object.fromEntries(jobsOf(workflow).map(([name, job]) => [name, job.permissions]));

  assert.deepEqual(workflow.permissions, {});
  assert.deepEqual(permissions, {
    build: { contents: "read" },
    compare: { contents: "read" },
    sign: { contents: "read", "id-token": "write", attestations: "write" },
    publish: { contents: "write" },
  });
});

test("release.yml: two builds, then compare", () => {
  const workflow = parseWorkflow(text("release.yml"));
  const jobs = Object.fromEntries(jobsOf(workflow));
  const build = jobs.build!;
  const runners = ((build.strategy as { matrix: { runner: string[] } }).matrix.runner);
  const runs = ((build.steps ?? []) as Array<{ run?: string }>).map((step) => step.run ?? "").join("\n");

  assert.equal(new Set(runners).size, 2);
  assert.equal(build["runs-on"], "${{ matrix.runner }}");
  assert.match(runs, /migtd-repro build --recipe "\$RECIPE"/);
  assert.equal(jobs.compare!.needs, "build");
  assert.equal(jobs.sign!.needs, "compare");
  assert.equal(jobs.publish!.needs, "sign");
  assert.match(text("release.yml"), /cmp "\$a\/\$file" "\$b\/\$file"/);
});

test("ci.yml: read-only on push and PR", () => {
  const workflow = parseWorkflow(text("ci.yml"));

  assert.deepEqual(Object.keys(workflow.on as object).sort(), ["pull_request", "push"]);
  assert.deepEqual(workflow.permissions, { contents: "read" });
  assert.deepEqual(checkSecrets(workflow, []), []);
  assert.match(text("ci.yml"), /run: sudo -E env "PATH=\$PATH" \.ci\/run$/m);
});

// The rules must fail on broken workflows, or the tests above prove nothing.

test("rules: catch unpinned actions", () => {
  const broken = [
    "jobs:",
    "  a:",
    "    steps:",
    "      - uses: actions/checkout@v4",
    "      - uses: actions/setup-node@820762786026740c76f36085b0efc47a31fe5020",
    "      - uses: ./local-action",
  ].join("\n");

  assert.deepEqual(checkPinning(broken), [
    "line 4: actions/checkout@v4 is not pinned to a full commit SHA",
    "line 5: actions/setup-node@820762786026740c76f36085b0efc47a31fe5020 has no '# vX.Y.Z' version comment",
  ]);
});

test("rules: catch unrecorded pin, input", () => {
  const broken = [
    "jobs:",
    "  a:",
    "    steps:",
    "      - uses: actions/checkout@0000000000000000000000000000000000000000 # v7.0.1",
    "      - uses: actions/setup-node@820762786026740c76f36085b0efc47a31fe5020 # v7.0.0",
    "        with:",
    "          node-versoin: 20",
  ].join("\n");

  assert.deepEqual(checkPinsAgainst(broken, pins), [
    "line 4: actions/checkout@0000000000000000000000000000000000000000 is not the recorded commit 3d3c42e5aac5ba805825da76410c181273ba90b1",
    "job a: actions/setup-node has no input 'node-versoin'",
  ]);
});

test("rules: catch broad permissions", () => {
  const problems = checkPermissions(
    parseWorkflow(["permissions:", "  contents: write", "jobs:", "  a:", "    permissions: write-all", "  b:", "    permissions:", "      id-token: read", "      secrets: read"].join("\n")),
  );

  assert.deepEqual(problems, [
    "top level: contents: write belongs in the job that needs it",
    "job a: permissions 'write-all' grants every scope",
    "job b: id-token: read is not one of write, none",
    "job b: 'secrets' is not a GITHUB_TOKEN permission",
  ]);
  assert.deepEqual(checkPermissions(parseWorkflow("jobs: {}")), [
    "no top-level permissions: the token gets the repository default",
  ]);
});

test("rules: catch pull_request_target", () => {
  assert.deepEqual(checkTriggers(parseWorkflow("on: [push, pull_request_target]")), [
    "trigger pull_request_target runs fork code with the base repository's secrets",
  ]);
});

test("rules: catch misplaced secrets", () => {
  const workflow = parseWorkflow(
    [
      "env:",
      "  A: ${{ secrets.A }}",
      "jobs:",
      "  build:",
      "    env:",
      "      B: ${{ secrets.B }}",
      "    steps:",
      "      - run: make",
      "        env:",
      "          C: ${{ secrets.C }}",
      "      - uses: some/action@0000000000000000000000000000000000000000 # v1",
      "        with:",
      "          token: ${{ secrets.D }}",
    ].join("\n"),
  );

  assert.deepEqual(checkSecrets(workflow, ["sign"]), [
    "workflow-level env uses a secret",
    "job build: job-level env uses a secret",
    "job build step 1: uses a secret",
    "job build step 2: a secret outside the step's env",
  ]);
});

test("rules: catch expression in script", () => {
  const workflow = parseWorkflow(["jobs:", "  a:", "    steps:", "      - run: echo ${{ github.event.inputs.tag }}"].join("\n"));

  assert.deepEqual(checkScriptExpressions(workflow), ["job a step 1: run script contains a ${{ }} expression"]);
});

test("rules: catch persisted checkout token", () => {
  const workflow = parseWorkflow(["jobs:", "  a:", "    steps:", "      - uses: actions/checkout@3d3c42e5aac5ba805825da76410c181273ba90b1 # v7.0.1"].join("\n"));

  assert.deepEqual(checkCheckoutCredentials(workflow), ["job a step 1: checkout without persist-credentials: false"]);
});

test("schema: catch misspelled step key", () => {
  const errors = schemaErrors(["on: push", "jobs:", "  a:", "    runs-on: ubuntu-24.04", "    steps:", "      - runn: make"].join("\n"));

  assert.ok(errors.some((error) => error.includes("Additional property 'runn' is not allowed")), errors.join("\n"));
});

/** Returns each `run:` script with its job and step, prefixed as GitHub runs it on Linux (bash -e -o pipefail). */
function runScripts(name: string): Array<{ where: string; script: string }> {
  return jobsOf(parseWorkflow(text(name))).flatMap(([job, definition]) =>
    ((definition.steps ?? []) as Array<{ run?: string; name?: string }>).flatMap((step, index) =>
      step.run === undefined ? [] : [{ where: `${name} job ${job} step ${index + 1}`, script: `set -eo pipefail\n${step.run}` }],
    ),
  );
}

const shellcheck = spawnSync("shellcheck", ["--version"]).status === 0;

for (const name of WORKFLOWS) {
  test(`${name}: run scripts parse in bash`, () => {
    for (const { where, script } of runScripts(name)) {
      const result = spawnSync("bash", ["-n"], { input: script, encoding: "utf8" });
      assert.equal(result.status, 0, `${where}: ${result.stderr}`);
    }
  });

  test(`${name}: run scripts pass shellcheck`, { skip: shellcheck ? false : "shellcheck is not installed" }, () => {
    for (const { where, script } of runScripts(name)) {
      const result = spawnSync("shellcheck", ["--shell=bash", "-"], { input: script, encoding: "utf8" });
      assert.equal(result.status, 0, `${where}:\n${result.stdout}`);
    }
  });
}

test("release.yml: no install scripts beside secrets", () => {
  const jobs = Object.fromEntries(jobsOf(parseWorkflow(text("release.yml"))));

  for (const name of ["sign", "publish"]) {
    const installs = ((jobs[name]!.steps ?? []) as Array<{ run?: string }>)
      .map((step) => step.run ?? "")
      .filter((script) => /\bnpm (ci|install)\b/.test(script));
    assert.ok(installs.length > 0, `job ${name} installs nothing`);
    for (const script of installs) assert.match(script, /--ignore-scripts/, `job ${name}: ${script}`);
  }
});
