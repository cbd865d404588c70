import { readdir, stat } from "node:fs/promises";
import { homedir } from "node:os";
import { join } from "node:path";
import { parsePublicKeys, type PublicKey } from "../attest/keys.js";
import { readInputFile } from "./io.js";

/**
 * Returns migtd-repro's configuration folder, $XDG_CONFIG_HOME/migtd-repro,
 * where XDG_CONFIG_HOME defaults to ~/.config (XDG Base Directory spec).
 */
export function configDir(env: NodeJS.ProcessEnv = process.env): string {
  return join(env.XDG_CONFIG_HOME || join(homedir(), ".config"), "migtd-repro");
}

/** Returns the folder of public keys trusted when none is given on the command line. */
export function defaultTrustedKeysDir(env: NodeJS.ProcessEnv = process.env): string {
  return join(configDir(env), "trusted-keys");
}

export interface TrustedKeys {
  keys: PublicKey[];
  /** Places searched for keys, named in the message when none was found. */
  hint: string;
}

/**
 * Loads the keys `verify` trusts: each --key file, each --trusted-keys file
 * or folder (every *.pem in it), or, when neither is given, the default
 * folder. A missing default folder means no trusted keys, not an error.
 */
export async function loadTrustedKeys(
  keyFiles: readonly string[],
  trustedKeyPaths: readonly string[],
  env: NodeJS.ProcessEnv = process.env,
): Promise<TrustedKeys> {
  const keys: PublicKey[] = [];
  for (const path of keyFiles) keys.push(...(await readKeyFile(path, "--key")));
  for (const path of trustedKeyPaths) keys.push(...(await readKeyPath(path)));
  if (keyFiles.length > 0 || trustedKeyPaths.length > 0) {
    return { keys, hint: "the keys given with --key and --trusted-keys" };
  }

  const folder = defaultTrustedKeysDir(env);
  const hint = `give --key PUB.pem, --trusted-keys FILE, or put PEM files in ${folder}`;
  const exists = await stat(folder).then(
    (info) => info.isDirectory(),
    () => false,
  );
  return { keys: exists ? await readKeyFolder(folder) : [], hint };
}

async function readKeyPath(path: string): Promise<PublicKey[]> {
  const info = await stat(path).catch(() => undefined);
  return info?.isDirectory() ? readKeyFolder(path) : readKeyFile(path, "--trusted-keys");
}

async function readKeyFolder(folder: string): Promise<PublicKey[]> {
  const names = (await readdir(folder)).filter((name) => name.endsWith(".pem")).sort();
  const keys = await Promise.all(names.map((name) => readKeyFile(join(folder, name), "trusted key")));
  return keys.flat();
}

async function readKeyFile(path: string, option: string): Promise<PublicKey[]> {
  const text = (await readInputFile(path, `public key file (${option})`)).toString("utf8");
  return parsePublicKeys(text, path);
}
