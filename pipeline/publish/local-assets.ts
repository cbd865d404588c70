import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { PublishError } from "./errors.js";

/** What an asset is to a reader of the release. */
export type AssetRole =
  | "image"
  | "attestations"
  | "servtd-info-hash"
  | "build-record"
  | "build-log"
  | "checksums";

/** A file of the output folder that is published as a release asset. */
export interface LocalAsset {
  name: string;
  path: string;
  role: AssetRole;
  size: number;
  /** Lowercase hex SHA-256 of the file. */
  sha256: string;
  contentType: string;
}

/** The assets of one build in an output folder, in upload order. */
export interface LocalRelease {
  dir: string;
  /** File name of the firmware image, e.g. "migtd.bin". */
  imageName: string;
  assets: LocalAsset[];
}

export const BUILD_RECORD_SUFFIX = ".build.json";
export const ATTESTATIONS_SUFFIX = ".intoto.jsonl";
export const SERVTD_INFO_HASH_SUFFIX = ".servtd_info_hash";
export const BUILD_LOG_SUFFIX = ".build.log";

/** Checksum lists in coreutils `sha256sum` format that are published when present. */
export const CHECKSUM_FILES = ["SHA256SUMS", "SHA384SUMS", "SHA512SUMS"] as const;

/**
 * Collects the image and the files beside it from a build's output folder.
 * The image name comes from the one NAME.build.json in the folder, or from
 * `name` when the folder holds several builds. The image, its attestations,
 * SERVTD_INFO_HASH and build record are required; the build log and the
 * checksum lists are published when present (`attest` lists every file of
 * the folder, the log included, in SHA256SUMS and SHA384SUMS).
 */
export async function collectLocalRelease(
  dir: string,
  name?: string,
): Promise<LocalRelease> {
  const entries = await listFolder(dir);
  const imageName = name ?? pickImageName(dir, entries);

  const required: Array<[string, AssetRole, string]> = [
    [imageName, "image", "run 'migtd-repro build' to create it"],
    [imageName + BUILD_RECORD_SUFFIX, "build-record", "run 'migtd-repro build' to create it"],
    [imageName + SERVTD_INFO_HASH_SUFFIX, "servtd-info-hash", "run 'migtd-repro build' to create it"],
    [imageName + ATTESTATIONS_SUFFIX, "attestations", "sign the build with 'migtd-repro attest'"],
  ];
  const missing = required.filter(([file]) => !entries.has(file));
  if (missing.length > 0) {
    const list = missing.map(([file, , fix]) => `${file} (${fix})`).join(", ");
    throw new PublishError("folder-invalid", `${dir} lacks ${list}`);
  }

  const optional: Array<[string, AssetRole]> = [
    [imageName + BUILD_LOG_SUFFIX, "build-log"],
    ...CHECKSUM_FILES.map((file): [string, AssetRole] => [file, "checksums"]),
  ];
  const files: Array<[string, AssetRole]> = [
    ...required.map(([file, role]): [string, AssetRole] => [file, role]),
    ...optional.filter(([file]) => entries.has(file)),
  ];

  const assets: LocalAsset[] = [];
  for (const [file, role] of files) {
    assets.push(await describeAsset(join(dir, file), file, role));
  }
  return { dir, imageName, assets };
}

/** Returns the SHA-256 (hex) and size in bytes of a file, reading it as a stream. */
export async function hashFile(path: string): Promise<{ sha256: string; size: number }> {
  const hash = createHash("sha256");
  let size = 0;
  for await (const chunk of createReadStream(path)) {
    hash.update(chunk as Buffer);
    size += (chunk as Buffer).length;
  }
  return { sha256: hash.digest("hex"), size };
}

async function listFolder(dir: string): Promise<Set<string>> {
  try {
    const entries = await readdir(dir, { withFileTypes: true });
    return new Set(entries.filter((entry) => entry.isFile()).map((entry) => entry.name));
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "ENOTDIR") {
      throw new PublishError("folder-invalid", `output folder ${dir} does not exist or is not a folder`);
    }
    throw error;
  }
}

function pickImageName(dir: string, entries: Set<string>): string {
  const names = [...entries]
    .filter((file) => file.endsWith(BUILD_RECORD_SUFFIX))
    .map((file) => file.slice(0, -BUILD_RECORD_SUFFIX.length))
    .sort();

  if (names.length === 1) return names[0]!;
  if (names.length === 0) {
    throw new PublishError(
      "folder-invalid",
      `${dir} contains no NAME${BUILD_RECORD_SUFFIX}; give the output folder of 'migtd-repro build'`,
    );
  }
  throw new PublishError(
    "folder-invalid",
    `${dir} contains ${names.length} builds (${names.join(", ")}); choose one with --name`,
  );
}

async function describeAsset(path: string, name: string, role: AssetRole): Promise<LocalAsset> {
  const { sha256, size } = await hashFile(path);
  return { name, path, role, size, sha256, contentType: contentTypeOf(role, size) };
}

/**
 * Media types of the assets. A JSON Lines bundle has no registered type,
 * so application/jsonl is used, as jsonlines.org suggests. SERVTD_INFO_HASH
 * is either the 48 raw bytes upstream's `migtd-hash -o` writes or 96 hex
 * digits of text.
 */
function contentTypeOf(role: AssetRole, size: number): string {
  switch (role) {
    case "image":
      return "application/octet-stream";
    case "build-record":
      return "application/json";
    case "attestations":
      return "application/jsonl";
    case "build-log":
    case "checksums":
      return "text/plain; charset=utf-8";
    case "servtd-info-hash":
      return size === 48 ? "application/octet-stream" : "text/plain; charset=utf-8";
  }
}
