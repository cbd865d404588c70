// Output folders for the publish tests. The publish library treats the
// files as opaque bytes because its verifier is passed in, so their content
// is arbitrary. Each test compares the bytes GitHub ends up with to these.
import { randomBytes } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface ReleaseFolder {
  dir: string;
  /** File name to content, every file of the folder. */
  files: Map<string, Buffer>;
  remove(): Promise<void>;
}

/** Writes migtd.bin and the five files beside it into a new temporary folder. */
export async function makeReleaseFolder(imageSize = 256 * 1024): Promise<ReleaseFolder> {
  const dir = await mkdtemp(join(tmpdir(), "migtd-repro-publish-"));
  const files = new Map<string, Buffer>([
    ["migtd.bin", randomBytes(imageSize)],
    ["migtd.build.json", Buffer.from('{"outputs":[{"name":"migtd.bin","image":true}]}\n')],
    ["migtd.intoto.jsonl", Buffer.from('{"payloadType":"application/vnd.in-toto+json"}\n')],
    ["migtd.servtd_info_hash", Buffer.from(`${"ab".repeat(48)}\n`)],
    ["migtd.build.log", Buffer.from("phase build: cargo image\n")],
    ["SHA256SUMS", Buffer.from(`${"00".repeat(32)}  migtd.bin\n`)],
  ]);
  for (const [name, content] of files) await writeFile(join(dir, name), content);
  return { dir, files, remove: () => rm(dir, { recursive: true, force: true }) };
}
