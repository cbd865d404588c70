import { AttestationError } from "./attestation-error.js";
import {
  signData,
  verifyData,
  type PublicKey,
  type SigningKey,
} from "./keys.js";

/**
 * DSSE v1 envelopes (github.com/secure-systems-lab/dsse, envelope.md and
 * protocol.md): a payload, its type, and signatures over the
 * pre-authentication encoding (PAE) of both.
 */

/** An envelope as serialized: payload and signatures in base64. */
export interface Envelope {
  payload: string;
  payloadType: string;
  signatures: { keyid: string; sig: string }[];
}

/** An envelope with its payload and signatures decoded. */
export interface ParsedEnvelope {
  payloadType: string;
  payload: Buffer;
  signatures: { keyid: string; sig: Buffer }[];
}

/** Outcome of checking one signature of an envelope against the trusted keys. */
export type SignatureStatus =
  /** Made by a trusted key over this envelope's PAE. */
  | { status: "verified"; keyid: string; key: PublicKey }
  /** Its keyid names a trusted key, but the signature does not verify. */
  | { status: "invalid"; keyid: string; key: PublicKey }
  /** No trusted key verifies it; it may come from a key the user never gave. */
  | { status: "untrusted"; keyid: string };

/**
 * Returns PAE(type, body) = "DSSEv1" SP LEN(type) SP type SP LEN(body) SP
 * body, where LEN is the byte length in ASCII decimal.
 */
export function preAuthEncoding(payloadType: string, payload: Uint8Array): Buffer {
  const type = Buffer.from(payloadType, "utf8");
  return Buffer.concat([
    Buffer.from(`DSSEv1 ${type.length} `, "ascii"),
    type,
    Buffer.from(` ${payload.length} `, "ascii"),
    payload,
  ]);
}

/** Signs `payload` with every key and returns the envelope. */
export function signEnvelope(
  payload: Uint8Array,
  payloadType: string,
  keys: readonly SigningKey[],
): Envelope {
  const pae = preAuthEncoding(payloadType, payload);
  return {
    payload: Buffer.from(payload).toString("base64"),
    payloadType,
    signatures: keys.map((key) => ({
      keyid: key.keyId,
      sig: signData(key, pae).toString("base64"),
    })),
  };
}

/**
 * Parses one serialized envelope. `where` names it in messages, e.g.
 * "release.bin.intoto.jsonl line 2". Base64 may be standard or URL-safe,
 * with or without padding, as the DSSE envelope format allows.
 */
export function parseEnvelope(text: string, where: string): ParsedEnvelope {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw invalid(`${where} is not valid JSON (${reason}); the line may be truncated`);
  }

  if (!isObject(value)) {
    throw invalid(`${where} is not a JSON object; expected a DSSE envelope`);
  }

  const { payload, payloadType, signatures } = value;
  if (typeof payloadType !== "string") {
    throw invalid(`${where} has no string 'payloadType'; expected a DSSE envelope`);
  }
  if (typeof payload !== "string") {
    throw invalid(`${where} has no string 'payload'; expected a DSSE envelope`);
  }
  if (!Array.isArray(signatures)) {
    throw invalid(`${where} has no 'signatures' array; expected a DSSE envelope`);
  }

  return {
    payloadType,
    payload: decodeBase64(payload, `${where} payload`),
    signatures: signatures.map((signature, index) =>
      parseSignature(signature, `${where} signature ${index + 1}`),
    ),
  };
}

/**
 * Checks each signature of `envelope` against the trusted keys. A signature
 * is tried with the key its keyid names. Because keyid is only a hint in
 * DSSE, a signature whose keyid matches no trusted key is tried with all.
 */
export function verifyEnvelopeSignatures(
  envelope: ParsedEnvelope,
  trustedKeys: readonly PublicKey[],
): SignatureStatus[] {
  const pae = preAuthEncoding(envelope.payloadType, envelope.payload);

  return envelope.signatures.map(({ keyid, sig }) => {
    const named = trustedKeys.find((key) => key.keyId === keyid);
    if (named !== undefined) {
      const status = verifyData(named, pae, sig) ? "verified" : "invalid";
      return { status, keyid, key: named };
    }

    const key = trustedKeys.find((candidate) => verifyData(candidate, pae, sig));
    return key === undefined
      ? { status: "untrusted", keyid }
      : { status: "verified", keyid, key };
  });
}

function parseSignature(value: unknown, where: string): ParsedEnvelope["signatures"][number] {
  if (!isObject(value) || typeof value.sig !== "string") {
    throw invalid(`${where} has no string 'sig'`);
  }
  if (value.keyid !== undefined && typeof value.keyid !== "string") {
    throw invalid(`${where} has a 'keyid' that is not a string`);
  }

  const sig = decodeBase64(value.sig, `${where} 'sig'`);
  if (sig.length === 0) throw invalid(`${where} has an empty 'sig'`);
  return { keyid: value.keyid ?? "", sig };
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;
const BASE64URL = /^[A-Za-z0-9_-]*={0,2}$/;

function decodeBase64(text: string, where: string): Buffer {
  const standard = BASE64.test(text);
  const urlSafe = !standard && BASE64URL.test(text);
  const unpadded = text.replace(/=+$/, "");

  if ((!standard && !urlSafe) || unpadded.length % 4 === 1) {
    const bad = text.search(/[^A-Za-z0-9+/_=-]/);
    const detail = bad >= 0 ? `character '${text[bad]}' at offset ${bad}` : "bad length or padding";
    throw invalid(`${where} is not valid base64 (${detail})`);
  }
  if (text.includes("=") && text.length % 4 !== 0) {
    throw invalid(`${where} is not valid base64 (padding at length ${text.length})`);
  }

  return Buffer.from(text, urlSafe ? "base64url" : "base64");
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function invalid(message: string): AttestationError {
  return new AttestationError("envelope-invalid", message);
}
