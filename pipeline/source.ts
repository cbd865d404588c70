import { mkdtemp, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { BuildError } from "./errors.js";
import type { Recipe } from "./recipe-schema.js";

/** The source of one build: a host folder or a git commit. */
export type SourceRequest =
  | { kind: "dir"; dir: string }
  | {
      kind: "git";
      url: string;
      rev: string;
      submodules: boolean;
      tag?: string;
      /** Origin of the tag, named in messages; default: the recipe. */
      tagFrom?: "recipe" | "--tag";
    };

/** Converts a recipe's source to a request, resolving a folder against the recipe's folder. */
export function recipeSource(spec: Recipe["source"], recipeDir: string): SourceRequest {
  if ("dir" in spec) return { kind: "dir", dir: resolve(recipeDir, spec.dir) };
  return { kind: "git", url: spec.git, rev: spec.rev, submodules: spec.submodules, tag: spec.tag };
}

/** A source tree ready to pack, with what identifies it. */
export interface PreparedSource {
  kind: "dir" | "git";
  /** Folder path or git URL. */
  uri: string;
  /** Host folder holding the tree. */
  root: string;
  commit?: string;
  tree?: string;
  /** Committer time of the commit, seconds since the epoch (git only). */
  commitTime?: number;
  /** Removes the clone of a git source; does nothing for a folder. */
  cleanup(): Promise<void>;
}

/** Checks a source folder, or clones a git source at its exact commit. */
export async function prepareSource(request: SourceRequest): Promise<PreparedSource> {
  if (request.kind === "dir") {
    const root = resolve(request.dir);
    const stats = await stat(root).catch(() => undefined);
    if (!stats?.isDirectory()) {
      throw new BuildError("source-invalid", `source folder ${root} does not exist or is not a folder`);
    }
    return { kind: "dir", uri: root, root, cleanup: async () => {} };
  }
  return cloneAtCommit(request);
}

/**
 * Clones a repository, checks out the commit detached, updates submodules
 * recursively and verifies that HEAD is the requested commit and, when a
 * tag is named, that the tag points at it.
 */
async function cloneAtCommit(request: Extract<SourceRequest, { kind: "git" }>): Promise<PreparedSource> {
  const { url, submodules, tag } = request;
  const rev = request.rev.toLowerCase();
  if (!/^[0-9a-f]{40}$/.test(rev)) {
    throw new BuildError("source-invalid", `git revision '${rev}' must be a full 40-digit commit ID`);
  }
  const parent = await mkdtemp(join(tmpdir(), "migtd-repro-src-"));
  const root = join(parent, "src");
  const cleanup = () => rm(parent, { recursive: true, force: true });

  try {
    await git(["clone", "--quiet", "--no-checkout", url, root]);
    await checkCommit(root, url, rev);
    await git(["-C", root, "-c", "advice.detachedHead=false", "checkout", "--quiet", "--detach", rev]);
    if (submodules) {
      await git(["-C", root, "submodule", "update", "--quiet", "--init", "--recursive"]);
    }
    const head = (await git(["-C", root, "rev-parse", "HEAD"])).trim();
    if (head !== rev) {
      throw new BuildError("source-invalid", `git checkout of ${url} gave commit ${head}, not ${rev}`);
    }
    if (tag !== undefined) await checkTag(root, url, tag, rev, request.tagFrom ?? "recipe");
    const tree = (await git(["-C", root, "rev-parse", "HEAD^{tree}"])).trim();
    const commitTime = Number((await git(["-C", root, "show", "-s", "--format=%ct", "HEAD"])).trim());
    return { kind: "git", uri: url, root, commit: head, tree, commitTime, cleanup };
  } catch (error) {
    await cleanup();
    throw error;
  }
}

/** Rejects a commit that the cloned repository does not contain. */
async function checkCommit(root: string, url: string, rev: string): Promise<void> {
  const found = await git(["-C", root, "cat-file", "-e", `${rev}^{commit}`]).then(() => true, () => false);
  if (!found) {
    throw new BuildError("source-invalid", `commit ${rev} not found in ${url}; check --rev or the recipe's "rev"`);
  }
}

async function checkTag(root: string, url: string, tag: string, rev: string, from: "recipe" | "--tag"): Promise<void> {
  const tagged = (await git(["-C", root, "rev-parse", "--verify", "--quiet", `refs/tags/${tag}^{commit}`]).catch(() => "")).trim();
  if (tagged !== rev) {
    throw new BuildError(
      "source-invalid",
      tagged === ""
        ? `tag '${tag}' does not exist in ${url}; check ${from === "--tag" ? "--tag" : `the recipe's "tag"`} or drop it`
        : `tag '${tag}' of ${url} points at ${tagged}, not at the pinned commit ${rev}`,
    );
  }
}

async function git(args: string[]): Promise<string> {
  // execa is loaded only for git sources, to keep folder builds' start-up short.
  const { execa } = await import("execa");
  try {
    const result = await execa("git", args, {
      env: { GIT_TERMINAL_PROMPT: "0" },
      stdin: "ignore",
    });
    return result.stdout;
  } catch (error) {
    const failure = error as { code?: string; stderr?: string; shortMessage?: string };
    if (failure.code === "ENOENT") {
      throw new BuildError("tool-missing", "git is not installed; install it (apt-get install git) to build from a git source");
    }
    const detail = (failure.stderr ?? failure.shortMessage ?? String(error)).trim().split("\n").pop();
    throw new BuildError("source-fetch-failed", `git ${args.filter((arg) => arg !== "--quiet").join(" ")} failed: ${detail}`, { cause: error });
  }
}
