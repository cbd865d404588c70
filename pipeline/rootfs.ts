import { appendFile, chown, mkdir, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { execa } from "execa";
import { BuildError } from "./errors.js";
import type { Recipe } from "./recipe-schema.js";

/**
 * Steps that turn a fresh debootstrap tree into a reproducible builder image
 * root: the package check, the removal of what differs from run to run, and
 * the build user.
 */

/** Installed packages by name, with their versions, from dpkg's status file. */
export async function readInstalledPackages(root: string): Promise<Map<string, string>> {
  const status = await readFile(join(root, "var/lib/dpkg/status"), "utf8");
  const installed = new Map<string, string>();

  for (const paragraph of status.split(/\n\n+/)) {
    const field = (name: string) =>
      paragraph.match(new RegExp(`^${name}: (.*)$`, "m"))?.[1];
    const name = field("Package");
    const version = field("Version");
    if (name && version && field("Status") === "install ok installed") {
      installed.set(name, version);
    }
  }
  return installed;
}

/**
 * Checks that the tree contains exactly the recipe's packages at the recipe's
 * versions. A difference means the mirror serves other versions than the
 * recipe was written against.
 */
export async function checkPackages(
  root: string,
  expected: Record<string, string>,
  mirror: string,
): Promise<void> {
  const installed = await readInstalledPackages(root);
  const differences: string[] = [];

  for (const [name, version] of Object.entries(expected)) {
    const actual = installed.get(name);
    if (actual === undefined) differences.push(`${name} ${version} is not installed`);
    else if (actual !== version) differences.push(`${name} is ${actual}, not ${version}`);
  }
  for (const [name, version] of installed) {
    if (!(name in expected)) differences.push(`${name} ${version} is installed but not in the recipe`);
  }
  if (differences.length === 0) return;

  differences.sort();
  throw new BuildError(
    "builder-packages-differ",
    `the packages debootstrap installed from ${mirror} differ from the recipe's ` +
      `"builder.rootfs.packages" in ${differences.length} place(s): ${differences.join("; ")}. ` +
      "Point \"mirror\" at a snapshot.debian.org URL from the date the recipe was written, " +
      "or update the package list and the image pin",
  );
}

/**
 * Paths removed from the tree because they record the run, not the
 * packages: logs, apt's caches and lists, dpkg's and debconf's backups, the
 * host's name and resolver, and the contents of /dev, /proc, /sys, /run and
 * /tmp. Each entry is a folder whose contents go (`dir/*`) or a file.
 */
const RUN_SPECIFIC = [
  "dev/*",
  "proc/*",
  "sys/*",
  "run/*",
  "tmp/*",
  "var/tmp/*",
  "var/log/*",
  "var/cache/apt/*",
  "var/lib/apt/lists/*",
  "var/cache/ldconfig/aux-cache",
  "var/cache/debconf/config.dat-old",
  "var/cache/debconf/templates.dat-old",
  "var/lib/dpkg/status-old",
  "var/lib/dpkg/diversions-old",
  "etc/machine-id",
  "etc/hostname",
  "etc/resolv.conf",
  "etc/passwd-",
  "etc/group-",
  "etc/shadow-",
  "etc/gshadow-",
];

/** Folders kept, empty, where the list above removes contents. */
const KEPT_EMPTY = ["var/lib/apt/lists/partial", "var/cache/apt/archives/partial"];

/**
 * Removes what differs between two debootstrap runs of the same packages and
 * sets the password-change day in /etc/shadow to the day of `epoch`. File
 * times are not touched here: the layer tar gives every entry one time.
 */
export async function normaliseRootfs(root: string, epoch: number): Promise<void> {
  for (const pattern of RUN_SPECIFIC) {
    if (pattern.endsWith("/*")) {
      const dir = join(root, pattern.slice(0, -2));
      const names = await readdir(dir).catch(() => [] as string[]);
      for (const name of names) await rm(join(dir, name), { recursive: true, force: true });
    } else {
      await rm(join(root, pattern), { force: true });
    }
  }
  for (const dir of KEPT_EMPTY) await mkdir(join(root, dir), { recursive: true, mode: 0o755 });

  await setShadowDays(join(root, "etc/shadow"), epochDay(epoch));
}

function epochDay(epoch: number): number {
  return Math.floor(epoch / 86400);
}

/** shadow(5): the third field is the day of the last password change. */
async function setShadowDays(path: string, day: number): Promise<void> {
  const lines = (await readFile(path, "utf8")).split("\n");
  const fixed = lines.map((line) => {
    const fields = line.split(":");
    if (fields.length < 3 || fields[2] === "") return line;
    fields[2] = String(day);
    return fields.join(":");
  });
  await writeFile(path, fixed.join("\n"));
}

/**
 * Adds the recipe's build user and group to the account files, as useradd
 * would but with the password-change day fixed, and makes its home and the
 * source path, owned by it.
 */
export async function addBuildUser(
  root: string,
  user: Recipe["user"],
  sourcePath: string,
  epoch: number,
): Promise<void> {
  await rejectTaken(join(root, "etc/passwd"), user.name, user.uid, "user");
  await rejectTaken(join(root, "etc/group"), user.name, user.gid, "group");

  await appendFile(join(root, "etc/passwd"), `${user.name}:x:${user.uid}:${user.gid}::${user.home}:/bin/sh\n`);
  await appendFile(join(root, "etc/group"), `${user.name}:x:${user.gid}:\n`);
  await appendFile(join(root, "etc/shadow"), `${user.name}:!:${epochDay(epoch)}:0:99999:7:::\n`);
  await appendFile(join(root, "etc/gshadow"), `${user.name}:!::\n`);

  for (const path of [user.home, sourcePath]) {
    const dir = join(root, path);
    await mkdir(dir, { recursive: true, mode: 0o755 });
    await chown(dir, user.uid, user.gid);
  }
}

/** Rejects a build user or group whose name or number the base system uses. */
async function rejectTaken(
  file: string,
  name: string,
  id: number,
  what: "user" | "group",
): Promise<void> {
  const entries = (await readFile(file, "utf8")).split("\n").map((line) => line.split(":"));
  const collision = entries.find((fields) => fields[0] === name || fields[2] === String(id));
  if (collision === undefined) return;
  throw new BuildError(
    "recipe-invalid",
    `the recipe's build ${what} ${name} (${id}) collides with ${what} ` +
      `${collision[0]} (${collision[2]}) of the Debian base system; choose another name and id in "user"`,
  );
}

/**
 * Unmounts everything mounted under `dir`, deepest first, so that removing
 * the folder never reaches into /proc, /sys or a bound device file that
 * debootstrap left mounted after a failure.
 */
export async function unmountUnder(dir: string): Promise<void> {
  const mountinfo = await readFile("/proc/self/mountinfo", "utf8");
  const mounts = mountinfo
    .split("\n")
    .map((line) => line.split(" ")[4])
    .filter((point): point is string => point !== undefined)
    .map((point) => point.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8))))
    .filter((point) => point.startsWith(`${dir}/`))
    .sort((a, b) => b.length - a.length);

  for (const point of mounts) {
    await execa("umount", ["--lazy", point]);
  }
}
