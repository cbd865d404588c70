import { createHash } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { lstat, readdir, readlink } from "node:fs/promises";
import { join } from "node:path";
import { pipeline } from "node:stream/promises";
import { Readable } from "node:stream";
import type Docker from "dockerode";
import { pack as tarPack, type Header, type Pack } from "tar-stream";
import { BuildError } from "./errors.js";

/**
 * A Docker image written as a docker-archive (the `docker save` format) and
 * loaded into the engine. Docker stores the image config's bytes as given, so
 * the image ID is the SHA-256 of the config this module writes, and the
 * config names the layer by the SHA-256 of its tar. Both are reproducible
 * when the layer tar is: entries in byte order of their paths, one fixed
 * time, owners and modes as on disk, no user or group names.
 */

type Headers = Partial<Header> & { name: string };

/** The layer tar of a root file system and its digest. */
export interface LayerTar {
  path: string;
  /** `sha256:<hex>` of the uncompressed tar, the config's diff_id. */
  diffId: string;
  bytes: number;
  entries: number;
}

/**
 * Writes the tree under `root` as a layer tar at `destination`. Every entry
 * gets `mtime` (seconds since the epoch). A file with more than one link is
 * stored once, and its later paths become hard links to the first. Sockets,
 * FIFOs and device files are rejected: the caller empties /dev first.
 */
export async function writeLayerTar(
  root: string,
  destination: string,
  mtime: number,
): Promise<LayerTar> {
  const pack = tarPack();
  const hash = createHash("sha256");
  let bytes = 0;
  const written = pipeline(
    Readable.from(pack, { objectMode: false }),
    async function* (chunks: AsyncIterable<Buffer>) {
      for await (const chunk of chunks) {
        hash.update(chunk);
        bytes += chunk.length;
        yield chunk;
      }
    },
    createWriteStream(destination),
  );

  const state: WalkState = { pack, mtime, linked: new Map(), entries: 0 };
  try {
    await addTree(root, "", state);
    pack.finalize();
  } catch (error) {
    pack.destroy(error as Error);
    await written.catch(() => undefined);
    throw error;
  }
  await written;

  return {
    path: destination,
    diffId: `sha256:${hash.digest("hex")}`,
    bytes,
    entries: state.entries,
  };
}

interface WalkState {
  pack: Pack;
  mtime: number;
  /** First path of each multiply linked file, by device and inode. */
  linked: Map<string, string>;
  entries: number;
}

async function addTree(
  root: string,
  relative: string,
  state: WalkState,
): Promise<void> {
  const names = (await readdir(join(root, relative))).sort(compareBytes);

  for (const name of names) {
    const path = relative === "" ? name : `${relative}/${name}`;
    const stats = await lstat(join(root, path));
    const header: Headers = {
      name: path,
      mode: stats.mode & 0o7777,
      uid: stats.uid,
      gid: stats.gid,
      uname: "",
      gname: "",
      mtime: new Date(state.mtime * 1000),
    };
    state.entries += 1;

    if (stats.isDirectory()) {
      await addEntry(state.pack, { ...header, type: "directory" });
      await addTree(root, path, state);
    } else if (stats.isSymbolicLink()) {
      const target = await readlink(join(root, path));
      await addEntry(state.pack, { ...header, type: "symlink", linkname: target });
    } else if (stats.isFile()) {
      const inode = `${stats.dev}:${stats.ino}`;
      const first = stats.nlink > 1 ? state.linked.get(inode) : undefined;
      if (first !== undefined) {
        await addEntry(state.pack, { ...header, type: "link", linkname: first });
        continue;
      }
      if (stats.nlink > 1) state.linked.set(inode, path);
      await addFile(state.pack, { ...header, type: "file", size: stats.size }, join(root, path));
    } else {
      throw new BuildError(
        "image-build-failed",
        `root file system entry ${join(root, path)} is a socket, FIFO or device file, ` +
          "which a builder image layer must not contain",
      );
    }
  }
}

function compareBytes(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

function addEntry(pack: Pack, header: Headers, data?: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    pack.entry(header, data ?? Buffer.alloc(0), (error) =>
      error ? reject(error) : resolve(),
    );
  });
}

async function addFile(pack: Pack, header: Headers, file: string): Promise<void> {
  const done = new Promise<void>((resolve, reject) => {
    const entry = pack.entry(header, (error) => (error ? reject(error) : resolve()));
    createReadStream(file).on("error", reject).pipe(entry);
  });
  await done;
}

/** Image config fields other than the layer list. */
export interface ImageConfigFields {
  diffId: string;
  /** Creation time, seconds since the epoch. */
  created: number;
  /** `uid:gid` the container runs as by default. */
  user: string;
  env: string[];
  workingDir: string;
  /** One line saying how the layer was made, for `docker history`. */
  createdBy: string;
}

/**
 * Returns the image config JSON (OCI image config, which Docker also uses)
 * for a single-layer linux/amd64 image. Key order is fixed by this code, so
 * equal fields give equal bytes.
 */
export function imageConfig(fields: ImageConfigFields): Buffer {
  const created = new Date(fields.created * 1000).toISOString();
  const config = {
    architecture: "amd64",
    os: "linux",
    created,
    config: {
      User: fields.user,
      Env: fields.env,
      WorkingDir: fields.workingDir,
      Cmd: ["/bin/sh"],
    },
    rootfs: { type: "layers", diff_ids: [fields.diffId] },
    history: [{ created, created_by: fields.createdBy }],
  };
  return Buffer.from(JSON.stringify(config), "utf8");
}

/** Computes the image ID Docker gives an image with this config: its SHA-256. */
export function imageId(config: Buffer): string {
  return `sha256:${createHash("sha256").update(config).digest("hex")}`;
}

/**
 * Loads a single-layer image into the engine as a docker-archive, tagged
 * `tag`, and returns its ID after checking that the engine reports the same.
 */
export async function loadDockerArchive(
  docker: Docker,
  config: Buffer,
  layer: LayerTar,
  tag: string,
): Promise<string> {
  const id = imageId(config);
  const configName = `${id.slice("sha256:".length)}.json`;
  const layerName = `${layer.diffId.slice("sha256:".length)}/layer.tar`;
  const manifest = Buffer.from(
    JSON.stringify([{ Config: configName, RepoTags: [tag], Layers: [layerName] }]),
  );

  const archive = tarPack();
  const filled = (async () => {
    const fixed = { mode: 0o644, mtime: new Date(0), uid: 0, gid: 0 };
    await addEntry(archive, { ...fixed, name: configName }, config);
    await addFile(archive, { ...fixed, name: layerName, size: layer.bytes }, layer.path);
    await addEntry(archive, { ...fixed, name: "manifest.json" }, manifest);
    archive.finalize();
  })();

  let response: NodeJS.ReadableStream;
  try {
    response = await docker.loadImage(Readable.from(archive, { objectMode: false }), {
      quiet: true,
    });
  } catch (error) {
    archive.destroy();
    throw loadFailed(tag, error);
  }
  const [events] = await Promise.all([readLoadEvents(response), filled]);

  const failure = events.find((event) => event.error || event.errorDetail);
  if (failure) {
    throw loadFailed(tag, failure.error ?? failure.errorDetail?.message);
  }
  const loaded = await docker.getImage(tag).inspect();
  if (loaded.Id !== id) {
    throw new BuildError(
      "image-build-failed",
      `Docker loaded builder image '${tag}' as ${loaded.Id}, not ${id}, the SHA-256 of its config; ` +
        "this engine does not use config digests as image IDs (for example with the " +
        "containerd image store); use the overlay2 storage driver",
    );
  }
  return id;
}

interface LoadEvent {
  stream?: string;
  error?: string;
  errorDetail?: { message?: string };
}

async function readLoadEvents(response: NodeJS.ReadableStream): Promise<LoadEvent[]> {
  let text = "";
  for await (const chunk of response as Readable) {
    text += chunk.toString();
  }
  return text
    .split("\n")
    .filter((line) => line.trim() !== "")
    .map((line) => JSON.parse(line) as LoadEvent);
}

function loadFailed(tag: string, cause: unknown): BuildError {
  const detail = cause instanceof Error ? cause.message : String(cause);
  return new BuildError(
    "image-build-failed",
    `Docker could not load builder image '${tag}': ${detail}`,
    { cause },
  );
}
