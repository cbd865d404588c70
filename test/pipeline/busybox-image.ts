// Test fixture: a tiny builder image made from Debian's busybox-static
// package, loaded into the engine as a hand-written docker-archive so its ID
// is known in advance: by the Docker image spec (image v1.2), the image ID
// is the SHA-256 of the config JSON, whose rootfs.diff_ids list the SHA-256
// of each layer tar.
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, readdir } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import Docker from "dockerode";
import { execa } from "execa";
import { packEntries, type TarEntry } from "../../pipeline/source-tar.js";
import { readFile } from "node:fs/promises";

const CACHE = join(tmpdir(), "migtd-repro-test-busybox");

export interface TestImage {
  id: string;
  tag: string;
  remove(): Promise<void>;
}

/** Downloads and unpacks busybox-static once per machine; returns the binary's path. */
async function busyboxBinary(): Promise<string> {
  const binary = join(CACHE, "root", "bin", "busybox");
  if (existsSync(binary)) return binary;
  await mkdir(CACHE, { recursive: true });
  await execa("apt-get", ["download", "-q", "busybox-static"], { cwd: CACHE });
  const deb = (await readdir(CACHE)).find((name) => name.startsWith("busybox-static") && name.endsWith(".deb"));
  if (deb === undefined) throw new Error(`apt-get download busybox-static left no .deb in ${CACHE}`);
  await execa("dpkg-deb", ["-x", join(CACHE, deb), join(CACHE, "root")]);
  return binary;
}

/** Layer with /bin/busybox, a link per applet, /tmp and /etc/passwd. */
async function layerTar(): Promise<Buffer> {
  const binary = await busyboxBinary();
  const applets = (await execa(binary, ["--list"])).stdout.split("\n").filter((name) => name && name !== "busybox");
  const passwd = "root:x:0:0:root:/root:/bin/sh\nbuilder:x:1000:1000:builder:/home/builder:/bin/sh\n";
  const entries: TarEntry[] = [
    { type: "directory", name: "bin", mode: 0o755 },
    { type: "file", name: "bin/busybox", mode: 0o755, data: await readFile(binary) },
    ...applets.sort().map((name): TarEntry => ({ type: "symlink", name: `bin/${name}`, mode: 0o777, target: "busybox" })),
    { type: "directory", name: "etc", mode: 0o755 },
    { type: "file", name: "etc/group", mode: 0o644, data: Buffer.from("root:x:0:\nbuilder:x:1000:\n") },
    { type: "file", name: "etc/passwd", mode: 0o644, data: Buffer.from(passwd) },
    { type: "directory", name: "tmp", mode: 0o1777 },
  ];
  return packEntries(entries, { uid: 0, gid: 0, mtime: 0 });
}

/**
 * Loads the busybox image under `tag` and returns its ID, computed here
 * from the config bytes rather than read back from the engine.
 */
export async function loadBusyboxImage(docker: Docker, tag: string): Promise<TestImage> {
  const layer = await layerTar();
  const diffId = `sha256:${createHash("sha256").update(layer).digest("hex")}`;
  const config = Buffer.from(
    JSON.stringify({
      architecture: "amd64",
      os: "linux",
      created: "1970-01-01T00:00:00Z",
      config: { Env: ["PATH=/bin"], Cmd: ["/bin/sh"] },
      rootfs: { type: "layers", diff_ids: [diffId] },
    }),
  );
  const configHex = createHash("sha256").update(config).digest("hex");
  const manifest = Buffer.from(
    JSON.stringify([{ Config: `${configHex}.json`, RepoTags: [tag], Layers: ["layer.tar"] }]),
  );
  const archive = await packEntries(
    [
      { type: "file", name: `${configHex}.json`, mode: 0o644, data: config },
      { type: "file", name: "layer.tar", mode: 0o644, data: layer },
      { type: "file", name: "manifest.json", mode: 0o644, data: manifest },
    ],
    { uid: 0, gid: 0, mtime: 0 },
  );

  const stream = await docker.loadImage(Readable.from([archive]), { quiet: true });
  await new Promise((resolve, reject) => docker.modem.followProgress(stream, (error) => (error ? reject(error) : resolve(undefined))));

  return {
    id: `sha256:${configHex}`,
    tag,
    remove: async () => {
      try {
        await docker.getImage(tag).remove({ noprune: false });
      } catch (error) {
        // Another test file may still use the same image under its own tag.
        const status = (error as { statusCode?: number }).statusCode;
        if (status !== 404 && status !== 409) throw error;
      }
    },
  };
}
