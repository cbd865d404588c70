// Security rules for the GitHub Actions workflows, as functions over a
// workflow's text so that tests can run them on the real files and on
// broken examples. Each returns the list of violations, empty when the
// workflow follows the rule.
import { parse } from "yaml";

type Mapping = Record<string, unknown>;

export interface PinnedAction {
  tag: string;
  commit: string;
  inputs: string[];
}

/**
 * GITHUB_TOKEN permissions and the levels each accepts, from GitHub's
 * "Controlling permissions for GITHUB_TOKEN" page: id-token is write or
 * none, models read or none, the others read, write or none.
 */
export const TOKEN_PERMISSIONS: Record<string, readonly string[]> = {
  actions: ["read", "write", "none"],
  attestations: ["read", "write", "none"],
  checks: ["read", "write", "none"],
  contents: ["read", "write", "none"],
  deployments: ["read", "write", "none"],
  discussions: ["read", "write", "none"],
  "id-token": ["write", "none"],
  issues: ["read", "write", "none"],
  models: ["read", "none"],
  packages: ["read", "write", "none"],
  pages: ["read", "write", "none"],
  "pull-requests": ["read", "write", "none"],
  "repository-projects": ["read", "write", "none"],
  "security-events": ["read", "write", "none"],
  statuses: ["read", "write", "none"],
};

export function parseWorkflow(text: string): Mapping {
  return parse(text) as Mapping;
}

export function jobsOf(workflow: Mapping): Array<[string, Mapping]> {
  return Object.entries((workflow.jobs ?? {}) as Record<string, Mapping>);
}

function stepsOf(job: Mapping): Mapping[] {
  return (job.steps ?? []) as Mapping[];
}

/**
 * Checks that every third-party `uses:` names a full 40-digit commit, followed on the
 * same line by a `# vX.Y.Z` comment; local `./` actions are exempt. A tag
 * or branch can be moved to other code; a commit cannot.
 */
export function checkPinning(text: string): string[] {
  const problems: string[] = [];
  for (const [index, line] of text.split("\n").entries()) {
    const match = /^\s*(?:-\s+)?uses:\s*(\S+)(.*)$/.exec(line);
    if (match === null) continue;
    const [, reference, rest] = match as unknown as [string, string, string];
    if (reference.startsWith("./")) continue;

    if (!/^[A-Za-z0-9-]+\/[A-Za-z0-9._-]+(?:\/[^@\s]+)?@[0-9a-f]{40}$/.test(reference)) {
      problems.push(`line ${index + 1}: ${reference} is not pinned to a full commit SHA`);
    } else if (!/^\s+#\s*v\d+(\.\d+)*\s*$/.test(rest)) {
      problems.push(`line ${index + 1}: ${reference} has no '# vX.Y.Z' version comment`);
    }
  }
  return problems;
}

/** Checks that every pinned action is recorded in `pins`, at the recorded commit and tag, with only its declared inputs. */
export function checkPinsAgainst(text: string, pins: Record<string, PinnedAction>): string[] {
  const problems: string[] = [];
  const lines = text.split("\n");
  for (const [index, line] of lines.entries()) {
    const match = /^\s*(?:-\s+)?uses:\s*([^@\s]+)@([0-9a-f]{40})\s+#\s*(\S+)/.exec(line);
    if (match === null) continue;
    const [, name, commit, tag] = match as unknown as [string, string, string, string];
    const pin = pins[name];
    if (pin === undefined) problems.push(`line ${index + 1}: ${name} has no recorded pin`);
    else if (pin.commit !== commit) problems.push(`line ${index + 1}: ${name}@${commit} is not the recorded commit ${pin.commit}`);
    else if (pin.tag !== tag) problems.push(`line ${index + 1}: ${name} comment ${tag} is not the recorded tag ${pin.tag}`);
  }

  for (const [jobName, job] of jobsOf(parseWorkflow(text))) {
    for (const step of stepsOf(job)) {
      const name = String(step.uses ?? "").split("@")[0]!;
      const pin = pins[name];
      if (pin === undefined) continue;
      for (const input of Object.keys((step.with ?? {}) as Mapping)) {
        if (!pin.inputs.includes(input)) problems.push(`job ${jobName}: ${name} has no input '${input}'`);
      }
    }
  }
  return problems;
}

/**
 * Checks least privilege: the workflow-level permissions are present, grant no
 * write access, and every job that needs more names its own; every
 * permission is one GitHub defines, at a level it accepts.
 */
export function checkPermissions(workflow: Mapping): string[] {
  const problems: string[] = [];
  if (workflow.permissions === undefined) problems.push("no top-level permissions: the token gets the repository default");
  problems.push(...checkPermissionMap("top level", workflow.permissions, { allowWrite: false }));
  for (const [name, job] of jobsOf(workflow)) {
    problems.push(...checkPermissionMap(`job ${name}`, job.permissions, { allowWrite: true }));
  }
  return problems;
}

function checkPermissionMap(where: string, permissions: unknown, options: { allowWrite: boolean }): string[] {
  if (permissions === undefined) return [];
  if (typeof permissions === "string") return [`${where}: permissions '${permissions}' grants every scope`];

  const problems: string[] = [];
  for (const [scope, level] of Object.entries(permissions as Mapping)) {
    const levels = TOKEN_PERMISSIONS[scope];
    if (levels === undefined) problems.push(`${where}: '${scope}' is not a GITHUB_TOKEN permission`);
    else if (!levels.includes(String(level))) problems.push(`${where}: ${scope}: ${String(level)} is not one of ${levels.join(", ")}`);
    else if (level === "write" && !options.allowWrite) problems.push(`${where}: ${scope}: write belongs in the job that needs it`);
  }
  return problems;
}

/** Triggers that run with the base repository's secrets and write token on code from forks. */
export function checkTriggers(workflow: Mapping): string[] {
  const on = workflow.on;
  const events = typeof on === "string" ? [on] : Array.isArray(on) ? on.map(String) : Object.keys((on ?? {}) as Mapping);
  return events
    .filter((event) => event === "pull_request_target" || event === "workflow_run")
    .map((event) => `trigger ${event} runs fork code with the base repository's secrets`);
}

/**
 * Secrets appear only in the environment of single steps of the listed
 * jobs: never at workflow or job level, where every step (and every build
 * container a step starts) would see them.
 */
export function checkSecrets(workflow: Mapping, allowedJobs: readonly string[]): string[] {
  const problems: string[] = [];
  const mentions = (value: unknown) => /\bsecrets\./.test(JSON.stringify(value ?? null));

  if (mentions(workflow.env)) problems.push("workflow-level env uses a secret");
  for (const [name, job] of jobsOf(workflow)) {
    if (mentions(job.env)) problems.push(`job ${name}: job-level env uses a secret`);
    for (const [index, step] of stepsOf(job).entries()) {
      const { env, ...rest } = step;
      if (mentions(rest)) problems.push(`job ${name} step ${index + 1}: a secret outside the step's env`);
      if (mentions(env) && !allowedJobs.includes(name)) problems.push(`job ${name} step ${index + 1}: uses a secret`);
    }
    const { steps: _steps, env: _env, ...jobRest } = job;
    if (mentions(jobRest)) problems.push(`job ${name}: a secret in the job definition`);
  }
  return problems;
}

/**
 * No `${{ }}` expression inside a `run:` script: an expression is pasted
 * into the script before the shell parses it, so a tag name or input could
 * inject commands. Values reach scripts through `env:` instead.
 */
export function checkScriptExpressions(workflow: Mapping): string[] {
  const problems: string[] = [];
  for (const [name, job] of jobsOf(workflow)) {
    for (const [index, step] of stepsOf(job).entries()) {
      if (typeof step.run === "string" && step.run.includes("${{")) {
        problems.push(`job ${name} step ${index + 1}: run script contains a \${{ }} expression`);
      }
    }
  }
  return problems;
}

/** actions/checkout steps keep the token out of .git/config. */
export function checkCheckoutCredentials(workflow: Mapping): string[] {
  const problems: string[] = [];
  for (const [name, job] of jobsOf(workflow)) {
    for (const [index, step] of stepsOf(job).entries()) {
      if (!String(step.uses ?? "").startsWith("actions/checkout@")) continue;
      const persist = ((step.with ?? {}) as Mapping)["persist-credentials"];
      if (persist !== false) problems.push(`job ${name} step ${index + 1}: checkout without persist-credentials: false`);
    }
  }
  return problems;
}
