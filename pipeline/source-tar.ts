import { createHash } from "node:crypto";
import { lstat, readFile, readdir, readlink } from "node:fs/promises";
import { join } from "node:path";
import { pack as tarPack, type Header, type Pack } from "tar-stream";
import { BuildError } from "./errors.js";

/** Owner and time given to every entry of a normalised tar. */
export interface TarNormalisation {
  uid: number;
  gid: number;
  /** Modification time of every entry, seconds since the epoch. */
  mtime: number;
}

/** One entry to pack: a path relative to the archive root. */
export type TarEntry =
  | { type: "directory"; name: string; mode: number }
  | { type: "file"; name: string; mode: number; data: Buffer }
  | { type: "symlink"; name: string; mode: number; target: string };

/** Names skipped at every level of a source tree: git metadata. */
const SKIPPED_NAMES = new Set([".git"]);

/**
 * Lists a source tree as tar entries in byte order of their paths, so the
 * same tree always gives the same archive. Regular files, folders and
 * symbolic links are kept with their permission bits. A socket, FIFO or
 * device file is rejected. `.git` folders and files are left out unless
 * `keepGitMetadata` is set.
 */
export async function listTree(root: string, options: { keepGitMetadata?: boolean } = {}): Promise<TarEntry[]> {
  const entries: TarEntry[] = [];
  await walk(root, "", entries, options.keepGitMetadata ? new Set() : SKIPPED_NAMES);
  return entries;
}

async function walk(root: string, relative: string, entries: TarEntry[], skipped: Set<string>): Promise<void> {
  const names = (await readdir(join(root, relative))).sort((a, b) =>
    Buffer.compare(Buffer.from(a), Buffer.from(b)),
  );

  for (const name of names) {
    if (skipped.has(name)) continue;
    const path = relative === "" ? name : `${relative}/${name}`;
    const stats = await lstat(join(root, path));
    const mode = stats.mode & 0o7777;

    if (stats.isDirectory()) {
      entries.push({ type: "directory", name: path, mode });
      await walk(root, path, entries, skipped);
    } else if (stats.isFile()) {
      entries.push({ type: "file", name: path, mode, data: await readFile(join(root, path)) });
    } else if (stats.isSymbolicLink()) {
      entries.push({ type: "symlink", name: path, mode, target: await readlink(join(root, path)) });
    } else {
      throw new BuildError(
        "source-invalid",
        `source file ${join(root, path)} is a socket, FIFO or device; remove it from the source tree`,
      );
    }
  }
}

/**
 * Packs entries into a tar with every owner, group and time replaced by
 * the given values and no user or group names, so the archive depends only
 * on paths, permission bits and contents.
 */
export async function packEntries(
  entries: TarEntry[],
  normalisation: TarNormalisation,
): Promise<Buffer> {
  const pack = tarPack();
  const chunks: Buffer[] = [];
  const collected = new Promise<Buffer>((resolve, reject) => {
    pack.on("data", (chunk: unknown) => {
      chunks.push(chunk as Buffer);
    });
    pack.on("end", () => resolve(Buffer.concat(chunks)));
    pack.on("error", reject);
  });

  const common = {
    uid: normalisation.uid,
    gid: normalisation.gid,
    uname: "",
    gname: "",
    mtime: new Date(normalisation.mtime * 1000),
  };
  for (const entry of entries) {
    if (entry.type === "file") {
      await addEntry(pack, { ...common, name: entry.name, mode: entry.mode, type: "file" }, entry.data);
    } else if (entry.type === "directory") {
      // Folder names end in "/", as GNU tar and Docker write them.
      const name = entry.name.endsWith("/") ? entry.name : `${entry.name}/`;
      await addEntry(pack, { ...common, name, mode: entry.mode, type: "directory" });
    } else {
      await addEntry(pack, {
        ...common,
        name: entry.name,
        mode: entry.mode,
        type: "symlink",
        linkname: entry.target,
      });
    }
  }
  pack.finalize();
  return collected;
}

function addEntry(pack: Pack, header: Partial<Header> & { name: string }, data?: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    pack.entry(header, data ?? Buffer.alloc(0), (error) => (error ? reject(error) : resolve()));
  });
}

/** A source tree packed for the container, and the archive's SHA-256. */
export interface PackedSource {
  /** Entries named relative to the tree's root; its digest identifies the source. */
  tar: Buffer;
  sha256: string;
  files: number;
  /**
   * The archive the first build container receives at "/": `before`, then
   * the same entries below `containerPath` led by that folder's own entry
   * (so the engine also sets the root folder's owner and time), then
   * `after`. Present when a container path is given.
   */
  containerTar?: Buffer;
}

/** Lists and packs a source tree with normalised owners and times. */
export async function packSource(
  root: string,
  normalisation: TarNormalisation & {
    keepGitMetadata?: boolean;
    containerPath?: string;
    before?: TarEntry[];
    after?: TarEntry[];
  },
): Promise<PackedSource> {
  const entries = await listTree(root, normalisation);
  const archive = await packEntries(entries, normalisation);
  const packed: PackedSource = {
    tar: archive,
    sha256: createHash("sha256").update(archive).digest("hex"),
    files: entries.length,
  };

  const prefix = normalisation.containerPath?.replace(/^\/+|\/+$/g, "");
  if (prefix) {
    const rootMode = (await lstat(root)).mode & 0o7777;
    const below = entries.map((entry) => ({ ...entry, name: `${prefix}/${entry.name}` }));
    packed.containerTar = await packEntries(
      [
        ...(normalisation.before ?? []),
        { type: "directory", name: prefix, mode: rootMode },
        ...below,
        ...(normalisation.after ?? []),
      ],
      normalisation,
    );
  }
  return packed;
}
