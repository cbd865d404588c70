import type { ParseArgsConfig } from "node:util";
import { loadRecipe } from "../../pipeline/recipe.js";
import { DEFAULT_PLAN_RECIPE, makePlan, type Plan, type PlanRequest } from "../../pipeline/plan.js";
import { parseUser } from "../../pipeline/resolve-recipe.js";
import { parseCommandArgs } from "../args.js";
import { EXIT } from "../exit.js";
import { UsageError } from "../usage-error.js";

export const help = `Usage: migtd-repro plan [--recipe NAME] [--preset NAME] [OPTIONS] [--json]

Prints what a build of a recipe would run, without running anything: the
source and commit, how the builder image is made (base images by digest,
build arguments, checksum lock), user, uid, gid, source path, environment,
each phase's command and network setting, the outputs, and the hash options
that follow from the build options. Review it in a pull request; the
release workflow runs it before building.

Plan options:
  --recipe NAME|PATH     bundled guest name or recipe.json path (default: ${DEFAULT_PLAN_RECIPE})
  --preset NAME          named option and input set of the recipe
                         (migtd: production, pre-production)
  --rev COMMIT           build this 40-digit git commit instead of the recipe's
  --tag NAME             tag the commit is released as; needs --rev, and the
                         build checks that the tag points at the commit
  --source DIR           use a local source folder instead of the git source;
                         its rust-toolchain and input files are then read
  --user NAME:UID:GID:HOME  build user (default: the recipe's, root:0:0:/root)
  --source-path PATH     source folder inside the container (default: the
                         recipe's, /root/MigTD)
  --input NAME=FILE      use FILE for the recipe input NAME (repeatable)
  --option NAME=VALUE    set the recipe option NAME (repeatable)
  --json                 print the plan as one JSON object

Recipe options and inputs are also flags of their own name. For migtd they
map one to one onto upstream's 'cargo image' options:
  --debug                dev profile with log messages
  --no-default-features  leave out stack-guard and virtio-vsock
  --features LIST        comma-separated migtd features to add
  --log-level LEVEL      off, error, warn, info, debug or trace
  --policy-v2            enroll a policy v2 and its issuer chain
  --image-format FORMAT  tdvf (migtd.bin) or igvm (migtd.igvm)
  --platform NAME        kvm
  --root-ca FILE         root CA certificate (default: the source's
                         config/Intel_SGX_Provisioning_Certification_RootCA.cer)
  --policy FILE          migration policy (default: the source's
                         config/policy_production_fmspc.json; required with --policy-v2)
  --policy-issuer-chain FILE  policy v2 issuer chain (only with --policy-v2)
  --metadata FILE, --shim-layout FILE, --image-layout FILE
                         td-shim configuration files (default: the source's)
The hash options (policy v2; RA disabled when --features lists
test_disable_ra_and_accept_all) follow from these automatically.

Exit status:
  0    the plan was printed
  2    invalid input or usage: unknown recipe, preset, option or input,
       a value outside the option's choices, an unreadable input file
  3    environment problem, e.g. an unreadable recipe folder
  70   internal error (a bug in migtd-repro; please report it)
  130  interrupted by SIGINT or SIGTERM`;

const PLAN_OPTIONS = {
  recipe: { type: "string" },
  preset: { type: "string" },
  rev: { type: "string" },
  tag: { type: "string" },
  source: { type: "string" },
  user: { type: "string" },
  "source-path": { type: "string" },
  input: { type: "string", multiple: true },
  option: { type: "string", multiple: true },
  json: { type: "boolean" },
} as const satisfies ParseArgsConfig["options"];

export async function run(argv: string[]): Promise<number> {
  const recipeName = findRecipeArgument(argv) ?? DEFAULT_PLAN_RECIPE;
  const { recipe } = await loadRecipe(recipeName);

  // Each recipe option and input is a flag of its own name. A name that
  // would shadow a plan option is reachable only through --option or --input.
  const recipeFlags: NonNullable<ParseArgsConfig["options"]> = {};
  for (const [name, spec] of Object.entries(recipe.options)) {
    if (!(name in PLAN_OPTIONS)) recipeFlags[name] = { type: spec.type };
  }
  for (const name of Object.keys(recipe.inputs)) {
    if (!(name in PLAN_OPTIONS)) recipeFlags[name] = { type: "string" };
  }

  const { values } = parseCommandArgs("plan", {
    args: argv,
    strict: true,
    allowPositionals: false,
    options: { ...recipeFlags, ...PLAN_OPTIONS },
  });
  const plan = await makePlan(toRequest(recipeName, values as Record<string, unknown>, recipe));

  process.stdout.write(values.json ? `${JSON.stringify(plan, null, 2)}\n` : formatPlan(plan));
  return EXIT.ok;
}

/** Finds --recipe before parsing, because the recipe decides the other flags. */
function findRecipeArgument(argv: string[]): string | undefined {
  for (let index = 0; index < argv.length; index++) {
    const argument = argv[index]!;
    if (argument === "--") return undefined;
    if (argument === "--recipe") return argv[index + 1];
    if (argument.startsWith("--recipe=")) return argument.slice("--recipe=".length);
  }
  return undefined;
}

function toRequest(
  recipeName: string,
  values: Record<string, unknown>,
  recipe: Awaited<ReturnType<typeof loadRecipe>>["recipe"],
): PlanRequest {
  const options: Record<string, string | boolean> = pairs("option", values.option);
  const inputs: Record<string, string> = pairs("input", values.input);
  for (const name of Object.keys(recipe.options)) {
    const value = values[name];
    if (typeof value === "string" || typeof value === "boolean") options[name] = value;
  }
  for (const name of Object.keys(recipe.inputs)) {
    const value = values[name];
    if (typeof value === "string") inputs[name] = value;
  }

  const text = (name: string) => (typeof values[name] === "string" ? (values[name] as string) : undefined);
  const user = text("user");
  return {
    recipe: recipeName,
    preset: text("preset"),
    options,
    inputs,
    overrides: {
      rev: text("rev"),
      tag: text("tag"),
      sourceDir: text("source"),
      sourcePath: text("source-path"),
      ...(user !== undefined ? { user: parseUser(user) } : {}),
    },
  };
}

function pairs(flag: string, given: unknown): Record<string, string> {
  const result: Record<string, string> = {};
  for (const pair of (given as string[] | undefined) ?? []) {
    const separator = pair.indexOf("=");
    if (separator <= 0) {
      throw new UsageError(`plan: --${flag} '${pair}' must be NAME=VALUE (see 'migtd-repro plan --help')`);
    }
    result[pair.slice(0, separator)] = pair.slice(separator + 1);
  }
  return result;
}

/** Renders a plan for a reviewer: one section per part, commands shell-quoted. */
export function formatPlan(plan: Plan): string {
  const lines: string[] = [];
  const section = (title: string) => lines.push("", title);
  const item = (text: string) => lines.push(`  ${text}`);

  lines.push(`Recipe: ${plan.recipe.name} ${plan.recipe.version} (${plan.recipe.file}, sha256 ${plan.recipe.sha256})`);
  lines.push(`  ${plan.recipe.description}`);
  if (plan.preset) lines.push(`Preset: ${plan.preset.name}: ${plan.preset.description}`);

  section("Source");
  formatSource(plan, item);

  section("Builder image");
  formatBuilder(plan, item);

  section("User and path");
  item(`user ${plan.user.name}, uid ${plan.user.uid}, gid ${plan.user.gid}, home ${plan.user.home}`);
  item(`source path ${plan.sourcePath} (working folder of every phase)`);
  if (plan.persist.length) item(`kept from one phase to the next: ${plan.persist.join(", ")}`);

  section("Environment (every phase)");
  for (const [name, value] of Object.entries(plan.env)) item(`${name}=${quote(value)}`);

  section("Options");
  for (const option of plan.options) {
    item(`${option.name} = ${JSON.stringify(option.value)} (${option.origin}; ${option.env})`);
  }

  section("Inputs");
  for (const input of plan.inputs) item(formatInput(input));
  if (plan.inputs.length === 0) item("none");

  section("Phases (run in order, each in the builder image)");
  plan.phases.forEach((phase, index) => {
    item(`${index + 1}. ${phase.name}: network ${phase.network ? "on" : "off"}`);
    for (const [name, value] of Object.entries(phase.env)) item(`     env ${name}=${quote(value)}`);
    item(`     $ ${phase.command.map(quote).join(" ")}`);
  });

  section("Outputs (relative to the source path)");
  for (const output of plan.outputs) {
    item(`${output.path}${output.image ? " (the image that is measured)" : ""}, at most ${output.maxBytes} bytes`);
  }

  section("Hash options (derived from the build options)");
  item(`policy v2: ${plan.measure.policyV2 ? "yes" : "no"}`);
  item(`RA disabled (test_disable_ra_and_accept_all): ${plan.measure.testDisableRaAndAcceptAll ? "yes" : "no"}`);
  item(`page order: ${plan.measure.pageOrder}; servtd_info: ${plan.measure.servtdInfo}`);
  item(`upstream equivalent: ${plan.measure.upstreamCommand.map(quote).join(" ")}`);
  return `${lines.join("\n")}\n`;
}

function formatSource(plan: Plan, item: (text: string) => void): void {
  const source = plan.source;
  if (source.kind === "dir") {
    item(`folder ${source.dir} (no commit: the verify-source phase skips its check)`);
    return;
  }
  item(`${source.url} at commit ${source.commit}${source.tag ? ` (tag ${source.tag})` : ""}`);
  item(
    `submodules: ${source.submodules ? "yes, recursive" : "no"}; .git folders sent into the container: ${source.keepGitMetadata ? "yes" : "no"}`,
  );
}

function formatBuilder(plan: Plan, item: (text: string) => void): void {
  const { builder } = plan;
  item(`tag ${builder.tag}; ${builder.image ? `pinned to ${builder.image}` : "no image ID pin: made from the recipe, whose inputs are pinned below"}`);
  if (builder.rootfs) item(`root file system: debootstrap ${builder.rootfs.suite} from ${builder.rootfs.mirror}`);

  const dockerfile = builder.dockerfile;
  if (dockerfile) {
    item(`Dockerfile ${dockerfile.file}, context ${dockerfile.context}`);
    for (const image of dockerfile.baseImages) item(`base image ${image}`);
    for (const [name, value] of Object.entries(dockerfile.buildArgs)) item(`build argument ${name}=${value}`);
    for (const file of dockerfile.sourceFiles) {
      const content = file.content === null ? "copied from the checkout at build time" : `content: ${file.content.trim().replace(/\n/g, "; ")}`;
      item(`source file ${file.source} -> context ${file.context} (${content})`);
    }
    item(`$ ${dockerfile.build.map(quote).join(" ")}`);
  }

  const lock = builder.checksumLock;
  if (lock) {
    const count = lock.entries.length === 1 ? "1 entry" : `${lock.entries.length} entries`;
    item(`checksum lock ${lock.file}: ${count}, enforced (${lock.modeArg}=enforce); a missing or different digest fails the image build`);
    for (const entry of lock.entries) item(`  ${entry.sha256}  ${entry.url}`);
    item(`write missing entries (network on), then review and commit the lock:`);
    item(`$ ${lock.update.map(quote).join(" ")}`);
  }
}

function formatInput(input: Plan["inputs"][number]): string {
  const from =
    input.origin === "source-default"
      ? `source tree ${input.sourceFile} (upstream's default, read by the build itself)`
      : input.hostFile
        ? `${input.origin} file ${input.hostFile} -> ${input.containerPath}`
        : `${input.origin}: source tree ${input.sourceFile} -> ${input.containerPath}`;
  const digest = input.sha256 ? `, sha256 ${input.sha256}` : "";
  const argument = input.argument ? `; adds ${input.argument.join(" ")}` : "";
  return `${input.name}: ${from}${digest}${argument}`;
}

/** Quotes a word for a POSIX shell when it contains characters the shell interprets. */
function quote(word: string): string {
  if (word !== "" && /^[A-Za-z0-9_@%+=:,./-]+$/.test(word)) return word;
  return `'${word.replace(/'/g, `'\\''`)}'`;
}
