// Builds minitd in its pinned builder container and boots images under QEMU,
// for the guest tests. The orchestrator is not used here, so the recipe is
// followed by hand: the source and inputs are copied in as the build user,
// the build phase runs with networking off, and the image is copied out.
import { spawn } from "node:child_process";
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { Readable } from "node:stream";
import Docker from "dockerode";
import pino from "pino";
import { extract as tarExtract, pack as tarPack, type Pack } from "tar-stream";
import { packagePath } from "../../config/package-root.js";
import { ensureBuilderImage } from "../../pipeline/builder-image.js";
import { RecipeSchema, type Recipe } from "../../pipeline/recipe-schema.js";

export const RECIPE_DIR = packagePath("guest", "minitd");

export async function loadMinitdRecipe(): Promise<Recipe> {
  const text = await readFile(join(RECIPE_DIR, "recipe.json"), "utf8");
  return RecipeSchema.parse(JSON.parse(text));
}

/** Makes sure the pinned builder image is in the engine, making it if not. */
export async function prepareBuilder(docker: Docker, recipe: Recipe): Promise<string> {
  const log = pino({ level: "warn" });
  const { id } = await ensureBuilderImage(docker, recipe, RECIPE_DIR, log);
  return id;
}

export interface MinitdInputs {
  policy: Buffer;
  rootCa: Buffer;
  debug: boolean;
}

export async function defaultInputs(recipe: Recipe): Promise<MinitdInputs> {
  const policy = recipe.inputs.policy!.default!;
  const rootCa = recipe.inputs["root-ca"]!.default!;
  return {
    policy: await readFile(join(RECIPE_DIR, policy)),
    rootCa: await readFile(join(RECIPE_DIR, rootCa)),
    debug: false,
  };
}

/** Runs the recipe's build phase in a fresh container and returns the image. */
export async function buildMinitd(
  docker: Docker,
  recipe: Recipe,
  inputs: MinitdInputs,
): Promise<Buffer> {
  const phase = recipe.phases[0]!;
  const { uid, gid } = recipe.user;
  const container = await docker.createContainer({
    Image: recipe.builder.image,
    Cmd: phase.command,
    User: `${uid}:${gid}`,
    WorkingDir: recipe.sourcePath,
    Env: [`${recipe.options.debug!.env}=${inputs.debug ? "1" : "0"}`],
    NetworkDisabled: true,
    HostConfig: { NetworkMode: "none" },
  });

  try {
    await container.putArchive(await packBuildTree(recipe, inputs), { path: "/" });
    await container.start();
    const { StatusCode } = (await container.wait()) as { StatusCode: number };
    if (StatusCode !== 0) {
      const logs = await container.logs({ stdout: true, stderr: true });
      throw new Error(`minitd build exited with ${StatusCode}: ${logs.toString()}`);
    }
    const output = `${recipe.sourcePath}/${recipe.outputs[0]!.path}`;
    return await readSingleFile(await container.getArchive({ path: output }));
  } finally {
    await container.remove({ force: true });
  }
}

/** The source folder and the two inputs, owned by the build user. */
async function packBuildTree(recipe: Recipe, inputs: MinitdInputs): Promise<Buffer> {
  const archive = tarPack();
  // The pack stream only accepts more entries while it is being read.
  const packed = collect(archive as unknown as AsyncIterable<Buffer>);
  const owner = { uid: recipe.user.uid, gid: recipe.user.gid, mtime: new Date(0) };
  const source = join(RECIPE_DIR, "src");
  const sourcePath = recipe.sourcePath.slice(1);

  const add = (pack: Pack, name: string, data?: Buffer) =>
    new Promise<void>((resolve, reject) => {
      const header = data
        ? { ...owner, name, mode: 0o644 }
        : { ...owner, name, mode: 0o755, type: "directory" as const };
      pack.entry(header, data ?? Buffer.alloc(0), (error) => (error ? reject(error) : resolve()));
    });

  await add(archive, "inputs");
  await add(archive, recipe.inputs.policy!.path.slice(1), inputs.policy);
  await add(archive, recipe.inputs["root-ca"]!.path.slice(1), inputs.rootCa);
  for (const name of (await readdir(source)).sort()) {
    await add(archive, `${sourcePath}/${name}`, await readFile(join(source, name)));
  }
  archive.finalize();
  return packed;
}

async function collect(stream: AsyncIterable<Buffer>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk);
  return Buffer.concat(chunks);
}

async function readSingleFile(archive: NodeJS.ReadableStream): Promise<Buffer> {
  const extract = tarExtract();
  Readable.from(archive as AsyncIterable<Buffer>, { objectMode: false }).pipe(extract);
  for await (const entry of extract) {
    const chunks: Buffer[] = [];
    for await (const chunk of entry) chunks.push(chunk as Buffer);
    if (entry.header.type === "file") return Buffer.concat(chunks);
  }
  throw new Error("the container archive has no file");
}

export interface BootResult {
  /** Everything QEMU wrote to the serial console. */
  serial: string;
  sawBanner: boolean;
  /** QEMU stopped by itself (e.g. a triple fault with -no-reboot). */
  exitedEarly: boolean;
}

/**
 * Boots an image with `qemu-system-x86_64 -machine q35 -bios` under TCG,
 * waits until the serial console shows `banner` or `timeoutMs` passes, then
 * kills QEMU. QEMU is killed in every case before this returns.
 */
export async function bootUntilBanner(
  imagePath: string,
  banner: string,
  timeoutMs: number,
): Promise<BootResult> {
  const qemu = spawn(
    "qemu-system-x86_64",
    [
      "-machine", "q35,accel=tcg",
      "-bios", imagePath,
      "-nodefaults",
      "-display", "none",
      "-serial", "stdio",
      "-monitor", "none",
      "-no-reboot",
    ],
    { stdio: ["ignore", "pipe", "pipe"] },
  );

  let serial = "";
  let exitedEarly = false;
  let killed = false;
  const exited = new Promise<void>((resolve) => qemu.on("exit", () => resolve()));
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(resolve, timeoutMs);
      qemu.on("error", (error) => {
        clearTimeout(timer);
        reject(error);
      });
      qemu.stdout.on("data", (chunk: Buffer) => {
        serial += chunk.toString("latin1");
        if (serial.includes(banner)) {
          clearTimeout(timer);
          resolve();
        }
      });
      qemu.on("exit", () => {
        exitedEarly = !killed;
        clearTimeout(timer);
        resolve();
      });
    });
  } finally {
    if (qemu.pid !== undefined && qemu.exitCode === null && qemu.signalCode === null) {
      killed = true;
      qemu.kill("SIGKILL");
      await exited;
    }
  }
  return { serial, sawBanner: serial.includes(banner), exitedEarly };
}
