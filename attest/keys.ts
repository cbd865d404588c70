import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  sign,
  verify,
  type KeyObject,
} from "node:crypto";
import { AttestationError } from "./attestation-error.js";

/** Signature schemes this project signs and verifies with. */
export type KeyAlgorithm = "ecdsa-p256" | "ed25519";

export const KEY_ALGORITHMS: readonly KeyAlgorithm[] = ["ecdsa-p256", "ed25519"];

/** A public key that signatures are checked against. */
export interface PublicKey {
  readonly algorithm: KeyAlgorithm;
  /** Hex SHA-256 of the SubjectPublicKeyInfo DER encoding. */
  readonly keyId: string;
  readonly key: KeyObject;
  /** Origin of the key (a file path or variable name), for messages. */
  readonly source: string;
}

/** A private key with its public half; never logged or serialized. */
export interface SigningKey extends PublicKey {
  readonly privateKey: KeyObject;
}

const PEM_BLOCK =
  /-----BEGIN ([A-Z0-9 ]+)-----\r?\n[\s\S]*?-----END \1-----/g;

/**
 * Parses a PEM private key (PKCS#8, SEC1 "EC PRIVATE KEY") for ECDSA P-256
 * or Ed25519. Messages name `source` but never include key material.
 */
export function parsePrivateKey(pem: string, source: string): SigningKey {
  if (/-----BEGIN ENCRYPTED PRIVATE KEY-----|Proc-Type: 4,ENCRYPTED/.test(pem)) {
    throw new AttestationError(
      "key-encrypted",
      `signing key ${source} is encrypted; decrypt it first, e.g. 'openssl pkey -in KEY -out PLAIN.pem'`,
    );
  }

  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey({ key: pem, format: "pem" });
  } catch {
    throw new AttestationError(
      "key-invalid",
      `signing key ${source} is not a PEM private key (expected 'BEGIN PRIVATE KEY' or 'BEGIN EC PRIVATE KEY'; 'migtd-repro keygen' writes one)`,
    );
  }

  const publicKey = createPublicKey(privateKey);
  return { ...describePublicKey(publicKey, source), privateKey };
}

/**
 * Parses every PEM public key in `text`: one file may hold several keys,
 * one after another. A private key is rejected so that it is not mistaken
 * for a trust anchor copied by accident.
 */
export function parsePublicKeys(text: string, source: string): PublicKey[] {
  const blocks = [...text.matchAll(PEM_BLOCK)];
  if (blocks.length === 0) {
    throw new AttestationError(
      "key-invalid",
      `${source} holds no PEM block; expected '-----BEGIN PUBLIC KEY-----'`,
    );
  }

  return blocks.map(([block, label], index) => {
    const where = blocks.length > 1 ? `${source} (key ${index + 1})` : source;
    if (label !== "PUBLIC KEY") {
      throw new AttestationError(
        "key-invalid",
        `${where} is a '${label}' PEM block; expected 'PUBLIC KEY' (for a key pair, give the .pub.pem file)`,
      );
    }
    let key: KeyObject;
    try {
      key = createPublicKey({ key: block, format: "pem" });
    } catch {
      throw new AttestationError(
        "key-invalid",
        `${where} is not a valid SubjectPublicKeyInfo public key`,
      );
    }
    return describePublicKey(key, where);
  });
}

/** Returns the hex SHA-256 of a public key's SubjectPublicKeyInfo DER. */
export function keyIdOf(publicKey: KeyObject): string {
  const der = publicKey.export({ format: "der", type: "spki" });
  return createHash("sha256").update(der).digest("hex");
}

/** Creates a key pair and returns both halves as PEM text. */
export function generateSigningKey(algorithm: KeyAlgorithm): {
  privatePem: string;
  publicPem: string;
  keyId: string;
} {
  const pair =
    algorithm === "ed25519"
      ? generateKeyPairSync("ed25519")
      : generateKeyPairSync("ec", { namedCurve: "P-256" });

  return {
    privatePem: pair.privateKey.export({ format: "pem", type: "pkcs8" }).toString(),
    publicPem: pair.publicKey.export({ format: "pem", type: "spki" }).toString(),
    keyId: keyIdOf(pair.publicKey),
  };
}

/**
 * Signs `data`: ECDSA P-256 over SHA-256 with a DER-encoded signature
 * (as DSSE and openssl expect), or pure Ed25519 (RFC 8032).
 */
export function signData(key: SigningKey, data: Uint8Array): Buffer {
  return sign(digestFor(key.algorithm), data, key.privateKey);
}

/** Checks a signature made by `signData`; false for any malformed one. */
export function verifyData(
  key: PublicKey,
  data: Uint8Array,
  signature: Uint8Array,
): boolean {
  try {
    return verify(digestFor(key.algorithm), data, key.key, signature);
  } catch {
    return false;
  }
}

function digestFor(algorithm: KeyAlgorithm): string | null {
  return algorithm === "ecdsa-p256" ? "sha256" : null;
}

function describePublicKey(key: KeyObject, source: string): PublicKey {
  return { algorithm: algorithmOf(key, source), keyId: keyIdOf(key), key, source };
}

function algorithmOf(key: KeyObject, source: string): KeyAlgorithm {
  const type = key.asymmetricKeyType;
  if (type === "ed25519") return "ed25519";

  const curve = key.asymmetricKeyDetails?.namedCurve;
  if (type === "ec" && curve === "prime256v1") return "ecdsa-p256";

  const found = type === "ec" ? `ec, curve ${curve}` : type;
  throw new AttestationError(
    "key-type-unsupported",
    `${source} has unsupported key type '${found}'; only ECDSA P-256 and Ed25519 keys are supported ('migtd-repro keygen --algorithm ecdsa-p256|ed25519')`,
  );
}
