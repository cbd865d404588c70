import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { z } from "zod";
import { PublishError } from "./errors.js";
import {
  BUILD_RECORD_SUFFIX,
  CHECKSUM_FILES,
  checkFileName,
  sideFileNames,
} from "./output-files.js";

/** Role of an asset for a reader of the release. */
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

/**
 * Collects the image and the files beside it from a build's output folder.
 * The build record is the one NAME.build.json in the folder, or the one
 * for `imageName` when the folder contains several builds; the image is the
 * output the record marks as the image. The image, build record,
 * attestations and SERVTD_INFO_HASH are required; the build log and the
 * checksum lists are published when present (`attest` lists every file of
 * the folder, the log included, in SHA256SUMS and SHA384SUMS).
 */
export async function collectLocalRelease(
  dir: string,
  imageName?: string,
): Promise<LocalRelease> {
  const entries = await listFolder(dir);
  const recordName = imageName === undefined
    ? pickBuildRecord(dir, entries)
    : sideFileNames(checkFileName(imageName, "--name")).buildRecord;
  if (!entries.has(recordName)) {
    throw new PublishError("folder-invalid", `${dir} lacks ${recordName} (run 'migtd-repro build' to create it)`);
  }

  const recorded = await imageNameFromRecord(join(dir, recordName), recordName);
  if (imageName !== undefined && imageName !== recorded) {
    throw new PublishError("folder-invalid", `--name is ${imageName}, but ${recordName} records the image ${recorded}`);
  }

  const side = sideFileNames(recorded);
  const required: Array<[string, AssetRole, string]> = [
    [recorded, "image", "run 'migtd-repro build' to create it"],
    [side.buildRecord, "build-record", "run 'migtd-repro build' to create it"],
    [side.servtdInfoHash, "servtd-info-hash", "run 'migtd-repro build' to create it"],
    [side.attestation, "attestations", "sign the build with 'migtd-repro attest'"],
  ];
  const missing = required.filter(([file]) => !entries.has(file));
  if (missing.length > 0) {
    const list = missing.map(([file, , fix]) => `${file} (${fix})`).join(", ");
    throw new PublishError("folder-invalid", `${dir} lacks ${list}`);
  }

  const optional: Array<[string, AssetRole]> = [
    [side.buildLog, "build-log"],
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
  return { dir, imageName: recorded, assets };
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

function pickBuildRecord(dir: string, entries: Set<string>): string {
  const records = [...entries].filter((file) => file.endsWith(BUILD_RECORD_SUFFIX)).sort();

  if (records.length === 1) return records[0]!;
  if (records.length === 0) {
    throw new PublishError(
      "folder-invalid",
      `${dir} contains no NAME${BUILD_RECORD_SUFFIX}; give the output folder of 'migtd-repro build'`,
    );
  }
  throw new PublishError(
    "folder-invalid",
    `${dir} contains ${records.length} build records (${records.join(", ")}); choose the image with --name`,
  );
}

/** The part of a build record that names its outputs; the rest is checked by verification. */
const RecordOutputs = z.object({
  outputs: z.array(z.object({ name: z.string().min(1), image: z.boolean() })).min(1),
});

async function imageNameFromRecord(path: string, recordName: string): Promise<string> {
  let outputs: z.infer<typeof RecordOutputs>["outputs"];
  try {
    outputs = RecordOutputs.parse(JSON.parse(await readFile(path, "utf8"))).outputs;
  } catch (error) {
    const reason = error instanceof z.ZodError ? error.issues[0]?.message : (error as Error).message;
    throw new PublishError("folder-invalid", `${recordName} is not a build record with outputs: ${reason}`, { cause: error });
  }

  const images = outputs.filter((output) => output.image);
  if (images.length !== 1) {
    throw new PublishError("folder-invalid", `${recordName} marks ${images.length} outputs as the image; expected one`);
  }
  const name = checkFileName(images[0]!.name, `image name in ${recordName}`);
  if (sideFileNames(name).buildRecord !== recordName) {
    throw new PublishError("folder-invalid", `${recordName} records the image ${name}, whose build record would be ${sideFileNames(name).buildRecord}`);
  }
  return name;
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
