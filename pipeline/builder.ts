import { readFile } from "node:fs/promises";
import { isAbsolute, join, relative } from "node:path";
import { Readable } from "node:stream";
import type Docker from "dockerode";
import type { Logger } from "pino";
import { BuildError } from "./errors.js";
import { engineAddress } from "./engine.js";
import { recipeFile, type LoadedRecipe } from "./recipe.js";
import { listTree, packEntries, type TarEntry } from "./source-tar.js";

/** The builder image that runs a build, as recorded. */
export interface BuilderImage {
  reference: string;
  id: string;
  pinned: boolean;
  origin: "present" | "rootfs" | "dockerfile";
}

/**
 * Returns the builder image for a recipe. A pinned image is used when the
 * engine has it, and otherwise made from the recipe and checked against the
 * pin. Without a pin, a recipe with a way to make the image (rootfs or
 * Dockerfile) always makes it and uses the new ID, because an image found
 * by tag could be anything. Only a recipe with neither a pin nor a way to
 * make the image is looked up by tag. The caller has already decided
 * whether such unpinned recipes are allowed.
 */
export async function resolveBuilderImage(
  docker: Docker,
  loaded: LoadedRecipe,
  log: Logger,
  sourceRoot?: string,
): Promise<BuilderImage> {
  const { builder } = loaded.recipe;
  const pin = builder.image;
  const reference = pin ? `${builder.tag} (${pin})` : builder.tag;

  if (pin === undefined && builder.rootfs === undefined && builder.dockerfile === undefined) {
    const tagged = await findId(docker, builder.tag);
    if (tagged === undefined) throw imageMissing(loaded);
    return { reference, id: tagged, pinned: false, origin: "present" };
  }

  const present = pin ? await findPinned(docker, pin) : undefined;
  if (present) {
    return { reference, id: present, pinned: true, origin: "present" };
  }

  if (pin) await rejectTagMismatch(docker, builder.tag, pin);
  const made = await makeImage(docker, loaded, log, sourceRoot);
  if (pin && made.id !== pin) {
    throw new BuildError(
      "pin-mismatch",
      `builder image made from recipe ${loaded.path} has ID ${made.id}, but the recipe pins ${pin}; ` +
        "the image recipe is not reproducible on this host, or the pin is out of date",
    );
  }
  return { reference, id: made.id, pinned: pin !== undefined, origin: made.origin };
}

async function findId(docker: Docker, reference: string): Promise<string | undefined> {
  try {
    const info = await docker.getImage(reference).inspect();
    return info.Id;
  } catch (error) {
    if ((error as { statusCode?: number }).statusCode === 404) return undefined;
    throw error;
  }
}

/** Looks up a pin: an image ID must match exactly, a digest must be among RepoDigests. */
async function findPinned(docker: Docker, pin: string): Promise<string | undefined> {
  let info: Docker.ImageInspectInfo;
  try {
    info = await docker.getImage(pin).inspect();
  } catch (error) {
    if ((error as { statusCode?: number }).statusCode === 404) return undefined;
    throw error;
  }
  const matches = pin.startsWith("sha256:") ? info.Id === pin : (info.RepoDigests ?? []).includes(pin);
  return matches ? info.Id : undefined;
}

/** Rejects a tag that names another image: that is a pin mismatch, not a missing image. */
async function rejectTagMismatch(docker: Docker, tag: string, pin: string): Promise<void> {
  const tagged = await findId(docker, tag);
  if (tagged === undefined || tagged === pin) return;
  throw new BuildError(
    "pin-mismatch",
    `builder image tag '${tag}' is image ${tagged}, but the recipe pins ${pin}; ` +
      `remove or retag the stale image ('docker rmi ${tag}') so the pinned one can be made, or update the pin`,
  );
}

async function makeImage(
  docker: Docker,
  loaded: LoadedRecipe,
  log: Logger,
  sourceRoot: string | undefined,
): Promise<{ id: string; origin: "rootfs" | "dockerfile" }> {
  const { builder } = loaded.recipe;
  if (builder.rootfs) {
    // Loaded only when an image must be made: it brings debootstrap handling.
    const { ensureBuilderImage } = await import("./builder-image.js");
    const { id } = await ensureBuilderImage(docker, loaded.recipe, loaded.dir, log);
    return { id, origin: "rootfs" };
  }
  if (builder.dockerfile) {
    return { id: await buildDockerfile(docker, loaded, log, sourceRoot), origin: "dockerfile" };
  }
  throw imageMissing(loaded);
}

function imageMissing(loaded: LoadedRecipe): BuildError {
  const { builder } = loaded.recipe;
  return new BuildError(
    "image-missing",
    `builder image ${builder.image ?? builder.tag} is not in the Docker engine at ${engineAddress()} ` +
      `and recipe ${loaded.path} has no "rootfs" or "dockerfile" part to make it; ` +
      "load the image with 'docker load', or add a way to make it to the recipe",
  );
}

/**
 * Builds the recipe's Dockerfile and tags it. The context is the recipe's
 * context folder plus the `sourceFiles` taken from the checked-out source.
 * With a checksum lock the build may use the engine's default network,
 * because every download is checked against the lock. Without one it runs
 * with networking off. The resulting ID is recorded: Docker image IDs from
 * a Dockerfile build are reproducible only if every layer is.
 */
async function buildDockerfile(
  docker: Docker,
  loaded: LoadedRecipe,
  log: Logger,
  sourceRoot: string | undefined,
): Promise<string> {
  const spec = loaded.recipe.builder.dockerfile!;
  const entries = await contextEntries(loaded, spec, sourceRoot);
  const dockerfile = await dockerfileInContext(loaded, spec, entries);
  const context = await packEntries(entries, {
    uid: 0,
    gid: 0,
    mtime: loaded.recipe.sourceDateEpoch,
  });
  const buildArgs = { ...spec.buildArgs };
  if (spec.checksumLock) buildArgs[spec.checksumLock.modeArg] = "enforce";
  log.info({ tag: loaded.recipe.builder.tag, dockerfile: spec.dockerfile, buildArgs }, "building builder image");

  const stream = await docker.buildImage(Readable.from([context]), {
    t: loaded.recipe.builder.tag,
    dockerfile,
    buildargs: buildArgs,
    networkmode: spec.checksumLock ? "default" : "none",
    rm: true,
    forcerm: true,
  });
  const events = await new Promise<BuildEvent[]>((resolve, reject) => {
    docker.modem.followProgress(
      stream,
      (error: Error | null, output: unknown[]) => (error ? reject(error) : resolve(output as BuildEvent[])),
      (event: { stream?: string }) => {
        if (event.stream?.trim()) log.info({ line: event.stream.trim() }, "image build");
      },
    );
  });

  const failure = events.find((event) => event.error);
  if (failure) {
    throw new BuildError(
      "image-build-failed",
      `building builder image from ${spec.dockerfile} failed: ${failure.error}`,
    );
  }
  // The ID comes from the engine's report, because the tag could move meanwhile.
  const id = events.map((event) => event.aux?.ID).find((value) => value !== undefined);
  if (id === undefined) {
    throw new BuildError(
      "image-build-failed",
      `building builder image from ${spec.dockerfile} reported success but gave no image ID`,
    );
  }
  return id;
}

/** One event of the engine's image build stream. */
interface BuildEvent {
  error?: string;
  stream?: string;
  aux?: { ID?: string };
}

type DockerfileSpec = NonNullable<LoadedRecipe["recipe"]["builder"]["dockerfile"]>;

/** Name of a Dockerfile that lies outside the context, once added to it. */
const ADDED_DOCKERFILE = ".migtd-repro.Dockerfile";

/**
 * Returns the Dockerfile's path inside the context, as the engine expects
 * it. The recipe gives it relative to the recipe's folder, so a Dockerfile
 * outside the context is added to the context entries.
 */
async function dockerfileInContext(
  loaded: LoadedRecipe,
  spec: DockerfileSpec,
  entries: TarEntry[],
): Promise<string> {
  const path = recipeFile(loaded, spec.dockerfile);
  const inside = relative(recipeFile(loaded, spec.context), path);
  if (!inside.startsWith("..") && !isAbsolute(inside)) return inside;
  entries.push({ type: "file", name: ADDED_DOCKERFILE, mode: 0o644, data: await readFile(path) });
  return ADDED_DOCKERFILE;
}

/** Entries of the build context: the context folder, then files from the source tree. */
async function contextEntries(
  loaded: LoadedRecipe,
  spec: DockerfileSpec,
  sourceRoot: string | undefined,
): Promise<TarEntry[]> {
  const entries = await listTree(recipeFile(loaded, spec.context));
  const fromSource = Object.entries(spec.sourceFiles ?? {});
  if (fromSource.length && sourceRoot === undefined) {
    throw new BuildError("image-build-failed", "the builder image needs files from the source tree, but no source was prepared");
  }
  const folders = new Set(entries.filter((entry) => entry.type === "directory").map((entry) => entry.name));
  for (const [sourcePath, contextPath] of fromSource) {
    const parts = contextPath.split("/");
    for (let depth = 1; depth < parts.length; depth++) {
      const folder = parts.slice(0, depth).join("/");
      if (!folders.has(folder)) entries.push({ type: "directory", name: folder, mode: 0o755 });
      folders.add(folder);
    }
    let data: Buffer;
    try {
      data = await readFile(join(sourceRoot!, sourcePath));
    } catch (error) {
      throw new BuildError(
        "source-invalid",
        `the builder image needs '${sourcePath}' from the source tree, but it cannot be read: ${(error as Error).message}`,
      );
    }
    entries.push({ type: "file", name: contextPath, mode: 0o644, data });
  }
  return entries;
}
