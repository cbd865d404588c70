import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type Docker from "dockerode";
import { execa } from "execa";
import type { Logger } from "pino";
import { BuildError } from "./errors.js";
import {
  imageConfig,
  loadDockerArchive,
  writeLayerTar,
} from "./docker-archive.js";
import type { Recipe } from "./recipe-schema.js";
import {
  addBuildUser,
  checkPackages,
  normaliseRootfs,
  unmountUnder,
} from "./rootfs.js";

/**
 * Builder images made from Debian's packages. debootstrap installs them into
 * a temporary folder, every installed package is checked against the
 * recipe's exact versions, and the recipe's build user is added. Logs and
 * caches are dropped, and the tree is loaded into Docker as a single-layer
 * image whose ID is reproducible.
 */

/** A builder image made from a recipe's `builder.rootfs`. */
export interface MadeBuilderImage {
  /** Image ID, `sha256:<hex>`: the value for the recipe's `builder.image`. */
  id: string;
  tag: string;
  /** SHA-256 of the layer tar, as in the image config. */
  diffId: string;
  layerBytes: number;
  /** Seconds spent in debootstrap, in writing the layer, in loading it. */
  seconds: { debootstrap: number; layer: number; load: number };
}

const SEARCH_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/**
 * Returns the recipe's pinned builder image if the engine has it, and
 * otherwise makes it from `builder.rootfs` and checks the result against the
 * pin. `built` is true when the image was made by this call. Making it runs
 * debootstrap, which needs root and the recipe's Debian mirror.
 */
export async function ensureBuilderImage(
  docker: Docker,
  recipe: Recipe,
  recipeDir: string,
  log: Logger,
): Promise<{ id: string; built: boolean }> {
  const pin = recipe.builder.image;
  if (pin !== undefined && (await hasImage(docker, pin))) {
    return { id: pin, built: false };
  }
  if (recipe.builder.rootfs === undefined) {
    throw new BuildError(
      "image-missing",
      `builder image ${pin ?? recipe.builder.tag} is not in the Docker engine and ` +
        `the recipe in ${recipeDir} has no "builder.rootfs" to make it from; load the image with 'docker load'`,
    );
  }

  const image = await makeBuilderImage(docker, recipe, log);
  if (pin !== undefined && image.id !== pin) {
    throw new BuildError(
      "pin-mismatch",
      `builder image made from the recipe in ${recipeDir} has ID ${image.id}, ` +
        `but the recipe pins ${pin}; the packages matched the recipe, so the pin is ` +
        `out of date or the image build is not reproducible on this host. If you changed ` +
        `"builder.rootfs" or "user" on purpose, set "builder.image" to ${image.id} ` +
        "(docker/build-builder-image.sh prints it); the made image stays tagged " +
        `'${recipe.builder.tag}' for inspection`,
    );
  }
  return { id: image.id, built: true };
}

/**
 * Makes the builder image from the recipe's `builder.rootfs` and `user`,
 * ignoring the pin, and tags it `builder.tag`. Maintainers use it to
 * compute the pin.
 */
export async function makeBuilderImage(
  docker: Docker,
  recipe: Recipe,
  log: Logger,
): Promise<MadeBuilderImage> {
  const rootfs = recipe.builder.rootfs;
  if (rootfs === undefined) {
    throw new BuildError(
      "recipe-invalid",
      `recipe '${recipe.name}' has no "builder.rootfs" to make a builder image from`,
    );
  }
  await checkHost();

  const work = await mkdtemp(join(tmpdir(), "migtd-repro-rootfs-"));
  try {
    const root = join(work, "rootfs");
    let started = Date.now();
    await runDebootstrap(rootfs, root, log);
    const debootstrapSeconds = secondsSince(started);

    await checkPackages(root, rootfs.packages, rootfs.mirror);
    await normaliseRootfs(root, rootfs.sourceDateEpoch);
    await addBuildUser(root, recipe.user, recipe.sourcePath, rootfs.sourceDateEpoch);

    started = Date.now();
    log.info({ phase: "builder-layer" }, "writing the builder image layer");
    const layer = await writeLayerTar(root, join(work, "layer.tar"), rootfs.sourceDateEpoch);
    const layerSeconds = secondsSince(started);

    started = Date.now();
    const config = imageConfig({
      diffId: layer.diffId,
      created: rootfs.sourceDateEpoch,
      user: `${recipe.user.uid}:${recipe.user.gid}`,
      env: [`PATH=${SEARCH_PATH}`, `HOME=${recipe.user.home}`],
      workingDir: recipe.sourcePath,
      createdBy:
        `debootstrap --variant=${rootfs.variant} --arch=amd64 ${rootfs.suite} ${rootfs.mirror}` +
        ` (migtd-repro builder image for ${recipe.name})`,
    });
    const id = await loadDockerArchive(docker, config, layer, recipe.builder.tag);
    log.info({ phase: "builder-load", id, tag: recipe.builder.tag }, "loaded the builder image");

    return {
      id,
      tag: recipe.builder.tag,
      diffId: layer.diffId,
      layerBytes: layer.bytes,
      seconds: {
        debootstrap: debootstrapSeconds,
        layer: layerSeconds,
        load: secondsSince(started),
      },
    };
  } finally {
    await unmountUnder(work);
    await rm(work, { recursive: true, force: true });
  }
}

async function hasImage(docker: Docker, id: string): Promise<boolean> {
  try {
    const info = await docker.getImage(id).inspect();
    return info.Id === id;
  } catch (error) {
    if ((error as { statusCode?: number }).statusCode === 404) return false;
    throw error;
  }
}

/** debootstrap writes device files and runs maintainer scripts in a chroot. */
async function checkHost(): Promise<void> {
  if (process.getuid?.() !== 0) {
    throw new BuildError(
      "tool-missing",
      "making a builder image runs debootstrap, which needs root; run as root " +
        "(e.g. with sudo), or load the pinned image with 'docker load'",
    );
  }
  try {
    await execa("debootstrap", ["--version"]);
  } catch (error) {
    throw new BuildError(
      "tool-missing",
      "debootstrap is not installed; install it with docker/setup-host.sh " +
        "or 'apt-get install debootstrap'",
      { cause: error },
    );
  }
}

async function runDebootstrap(
  rootfs: NonNullable<Recipe["builder"]["rootfs"]>,
  root: string,
  log: Logger,
): Promise<void> {
  const names = Object.keys(rootfs.packages).sort();
  const args = [
    `--variant=${rootfs.variant}`,
    "--arch=amd64",
    ...(names.length > 0 ? [`--include=${names.join(",")}`] : []),
    rootfs.suite,
    root,
    rootfs.mirror,
  ];
  log.info({ phase: "debootstrap", args }, "running debootstrap");

  const started = Date.now();
  const tail: string[] = [];
  const child = execa("debootstrap", args, { all: true, buffer: false, reject: false });
  for await (const line of child.iterable({ from: "all" })) {
    tail.push(line);
    if (tail.length > 20) tail.shift();
    log.info({ phase: "debootstrap", elapsedSeconds: secondsSince(started) }, line);
  }

  const result = await child;
  if (result.exitCode !== 0) {
    throw new BuildError(
      "image-build-failed",
      `debootstrap of ${rootfs.suite} from ${rootfs.mirror} failed with exit code ` +
        `${result.exitCode ?? "none"}: ${tail.at(-1) ?? "no output"}; check that the mirror is ` +
        "reachable (apt-get update) and that the suite exists there",
      { logTail: tail, exitCode: result.exitCode },
    );
  }
}

function secondsSince(started: number): number {
  return Math.round((Date.now() - started) / 100) / 10;
}
