import { access } from "node:fs/promises";
import { resolve } from "node:path";
import { KEY_ALGORITHMS, generateSigningKey, type KeyAlgorithm } from "../../attest/keys.js";
import { parseCommandArgs } from "../args.js";
import { checkOutputPath, writeFileAtomic } from "../atomic-write.js";
import { EXIT } from "../exit.js";
import { UsageError } from "../usage-error.js";

export const help = `Usage: migtd-repro keygen KEY.pem [--algorithm ALG] [--public-key FILE] [--force] [--json]

Creates a signing key pair for 'build --sign' and 'attest': the private key
in KEY.pem (PKCS#8 PEM, mode 0600) and the public key (SubjectPublicKeyInfo
PEM) for 'verify --key'. Prints the key ID: the hex SHA-256 of the public
key's DER encoding, which is the keyid in signed envelopes.

Options:
  --algorithm ALG      ecdsa-p256 (default) or ed25519
  --public-key FILE    where to write the public key
                       (default: KEY.pub.pem for KEY.pem, else KEY.pub)
  --force              replace existing key files
  --json               print {"keyId", "algorithm", "privateKey", "publicKey"}
  -h, --help           show this help

Exit status:
  0    the key pair was written
  2    invalid usage, a key file exists and --force was not given, or
       --public-key names the private key's path
  130  interrupted by SIGINT or SIGTERM
`;

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs("keygen", {
    args: argv,
    strict: true,
    allowPositionals: true,
    options: {
      algorithm: { type: "string", default: "ecdsa-p256" },
      "public-key": { type: "string" },
      force: { type: "boolean", default: false },
      json: { type: "boolean", default: false },
    },
  });

  if (positionals.length !== 1) {
    throw new UsageError("keygen: give one private key path, e.g. 'migtd-repro keygen signing.pem'");
  }
  const privatePath = positionals[0]!;
  const publicPath = values["public-key"] ?? publicKeyPath(privatePath);
  const algorithm = parseAlgorithm(values.algorithm);
  if (resolve(privatePath) === resolve(publicPath)) {
    throw new UsageError(
      `keygen: --public-key ${publicPath} is the private key's path; give another file for the public key`,
    );
  }

  if (!values.force) {
    for (const path of [privatePath, publicPath]) await requireAbsent(path);
  }
  // Both paths are checked first, so that a bad public key path leaves no
  // private key without its public key.
  for (const path of [privatePath, publicPath]) await checkOutputPath(path);

  const pair = generateSigningKey(algorithm);
  await writeFileAtomic(privatePath, pair.privatePem, { mode: 0o600 });
  await writeFileAtomic(publicPath, pair.publicPem, { mode: 0o644 });

  const result = { keyId: pair.keyId, algorithm, privateKey: privatePath, publicKey: publicPath };
  process.stdout.write(
    values.json
      ? `${JSON.stringify(result)}\n`
      : `wrote ${algorithm} private key ${privatePath} (mode 0600) and public key ${publicPath}\nkey id ${pair.keyId}\n`,
  );
  return EXIT.ok;
}

/** Returns KEY.pub.pem for KEY.pem, and NAME.pub for any other NAME. */
export function publicKeyPath(privatePath: string): string {
  return privatePath.endsWith(".pem")
    ? `${privatePath.slice(0, -".pem".length)}.pub.pem`
    : `${privatePath}.pub`;
}

function parseAlgorithm(value: string): KeyAlgorithm {
  if ((KEY_ALGORITHMS as readonly string[]).includes(value)) return value as KeyAlgorithm;
  throw new UsageError(`keygen: --algorithm '${value}' is not supported; use ${KEY_ALGORITHMS.join(" or ")}`);
}

async function requireAbsent(path: string): Promise<void> {
  const exists = await access(path).then(
    () => true,
    () => false,
  );
  if (exists) throw new UsageError(`keygen: ${path} exists; give --force to replace it`);
}
