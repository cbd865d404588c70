// A MigTD-shaped image with its measurements computed here from the
// specifications (TDX module MRTD rules, RTMR extend, TD_INFO layout), and
// a build record and signing keys for it, shared by the attestation tests.
import { createHash, generateKeyPairSync } from "node:crypto";
import type { BuildRecord } from "../../attest/build-record.js";
import { parsePrivateKey, parsePublicKeys, type SigningKey } from "../../attest/keys.js";
import {
  buildMigtdImage,
  expectedMrtd,
  extend,
  POLICY_GUID,
  ROOT_CA_GUID,
} from "../helpers/tdshim-image.js";

export const POLICY = Buffer.from('{"policy":"fixture","version":1}\n');
export const ROOT_CA = Buffer.from("fixture root CA bytes, not a real certificate\n");

/** servtd_info.json fields: upstream MigTD v0.7.1 defaults. */
export const SERVTD_INFO = {
  attributes: "0000000000000000",
  xfam: "e71a060000000000",
  mrconfigid: "00".repeat(48),
  mrowner: "00".repeat(48),
  mrownerconfig: "00".repeat(48),
};

export interface Fixture {
  image: Buffer;
  measurement: BuildRecord["measurement"];
}

const sha384 = (data: Uint8Array) => createHash("sha384").update(data).digest();
const sha256Hex = (data: Uint8Array) => createHash("sha256").update(data).digest("hex");

/**
 * Builds a td-shim image with the policy and root CA in its CFV and returns
 * the measurement a policy v1 build with SERVTD_ATTR 0 must report.
 */
export function makeFixture(size = 1024 * 1024, seed = 7): Fixture {
  const { image, sections } = buildMigtdImage({
    size,
    cfvSize: 0x10000,
    seed,
    files: [
      { guid: POLICY_GUID, data: POLICY },
      { guid: ROOT_CA_GUID, data: ROOT_CA },
    ],
  });

  const zero = Buffer.alloc(48);
  const mrtd = expectedMrtd(image, sections, "single-pass");
  const separator = extend(zero, Buffer.alloc(4));
  const rtmr2 = extend(extend(zero, POLICY), ROOT_CA);
  const tdInfo = Buffer.concat([
    Buffer.from(SERVTD_INFO.attributes, "hex"),
    Buffer.from(SERVTD_INFO.xfam, "hex"),
    mrtd,
    Buffer.from(SERVTD_INFO.mrconfigid, "hex"),
    Buffer.from(SERVTD_INFO.mrowner, "hex"),
    Buffer.from(SERVTD_INFO.mrownerconfig, "hex"),
    separator,
    separator,
    rtmr2,
    zero,
    Buffer.alloc(112),
  ]);
  const servtdInfoHash = sha384(tdInfo);
  const servtdHash = sha384(Buffer.concat([servtdInfoHash, Buffer.alloc(2), Buffer.alloc(8)]));

  return {
    image,
    measurement: {
      pageOrder: "single-pass",
      servtdInfo: { ...SERVTD_INFO },
      servtdAttr: "0x0",
      policyV2: false,
      testDisableRaAndAcceptAll: false,
      mrtd: mrtd.toString("hex"),
      rtmr0: separator.toString("hex"),
      rtmr1: separator.toString("hex"),
      rtmr2: rtmr2.toString("hex"),
      rtmr3: zero.toString("hex"),
      servtdInfoHash: servtdInfoHash.toString("hex"),
      servtdHash: servtdHash.toString("hex"),
    },
  };
}

/** A build record of `image` as the build command writes it. */
export function makeBuildRecord(
  fixture: Fixture,
  options: { name?: string; builds?: number; identical?: boolean } = {},
): BuildRecord {
  const name = options.name ?? "release.bin";
  const builds = options.builds ?? 2;
  const imageSha384 = sha384(fixture.image).toString("hex");
  const input = (file: string, data: Buffer, containerPath: string) => ({
    file,
    containerPath,
    sha256: sha256Hex(data),
    sha384: sha384(data).toString("hex"),
    size: data.length,
  });

  return {
    schema: "https://migtd-repro.dev/schemas/build-record",
    schemaVersion: 1,
    buildId: "0123456789ab",
    tool: { name: "migtd-repro", version: "0.1.0" },
    recipe: { name: "minitd", version: "1", path: "guest/minitd/recipe.json", sha256: "ab".repeat(32) },
    source: {
      kind: "git",
      uri: "https://example.org/minitd.git",
      commit: "c".repeat(40),
      tree: "d".repeat(40),
      digest: "ef".repeat(32),
    },
    inputs: {
      policy: input("policy.json", POLICY, "/inputs/policy.json"),
      rootCa: input("root_ca.cer", ROOT_CA, "/inputs/root_ca.cer"),
    },
    options: { debug: false, logLevel: "info" },
    builder: { reference: "migtd-builder:1", id: `sha256:${"12".repeat(32)}`, pinned: true, origin: "rootfs" },
    user: { name: "builder", uid: 1000, gid: 1000, home: "/home/builder" },
    sourcePath: "/home/builder/src",
    sourceDateEpoch: 1700000000,
    env: { SOURCE_DATE_EPOCH: "1700000000", TZ: "UTC", LC_ALL: "C.UTF-8" },
    phases: [{ name: "build", command: ["make", "image"], network: "none", exitCode: 0, durationMs: 1200 }],
    outputs: [
      {
        name,
        path: "target/release/migtd.bin",
        size: fixture.image.length,
        sha256: sha256Hex(fixture.image),
        sha384: imageSha384,
        image: true,
      },
    ],
    measurement: fixture.measurement,
    reproducibility: {
      builds,
      identical: options.identical ?? true,
      variations: builds > 1 ? ["hostname", "umask"] : [],
      imageSha384: Array.from({ length: builds }, () => imageSha384),
    },
    timings: {
      started: "2026-01-02T03:04:05.000Z",
      finished: "2026-01-02T03:06:07.000Z",
      phasesMs: { build: 1200 },
    },
    unpinned: false,
  };
}

export interface KeyPairPem {
  privatePem: string;
  publicPem: string;
  signingKey: SigningKey;
}

/** A fresh key pair made with node:crypto directly, not with keygen. */
export function makeKeyPair(algorithm: "ecdsa-p256" | "ed25519", source: string = algorithm): KeyPairPem {
  const pair =
    algorithm === "ed25519"
      ? generateKeyPairSync("ed25519")
      : generateKeyPairSync("ec", { namedCurve: "P-256" });
  const privatePem = pair.privateKey.export({ format: "pem", type: "pkcs8" }).toString();
  const publicPem = pair.publicKey.export({ format: "pem", type: "spki" }).toString();
  return { privatePem, publicPem, signingKey: parsePrivateKey(privatePem, source) };
}

export function publicKeyOf(pair: KeyPairPem) {
  return parsePublicKeys(pair.publicPem, `${pair.signingKey.source}.pub`)[0]!;
}
