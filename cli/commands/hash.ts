// Only attest/ modules and node built-ins are imported here, so that `hash`
// starts fast and never loads the Docker or GitHub clients.
import { hashImage, type ImageHashes } from "../../attest/hash-image.js";
import { ImageBytes } from "../../attest/image-bytes.js";
import { MeasureError } from "../../attest/measure-error.js";
import { PAGE_ORDERS, type PageOrder } from "../../attest/mrtd.js";
import { parseServtdInfo } from "../../attest/servtd-info.js";
import { packagePath } from "../../config/package-root.js";
import { parseCommandArgs } from "../args.js";
import { writeFileAtomic } from "../atomic-write.js";
import { EXIT } from "../exit.js";
import { openInputFile, readJsonFile } from "../io.js";
import { UsageError } from "../usage-error.js";

export const help = `Usage: migtd-repro hash --image FILE [OPTIONS]

Computes SERVTD_INFO_HASH (or SERVTD_HASH) of a MigTD image with the
options, outputs and file formats of upstream MigTD's 'cargo hash' and
migtd-hash tool (v0.7.1), so either can be used in scripts.

Options:
  -i, --image FILE            MigTD image (migtd.bin) to measure
  -m, --servtd-info FILE      TD_INFO fields as JSON: attributes, xfam (8 bytes),
                              mrconfigid, mrowner, mrownerconfig (48 bytes), hex
                              (default: config/servtd_info.json of this package,
                              upstream's defaults); --manifest is the same option
  -o, --output FILE           write the hash to FILE instead of stdout: the 48 raw
                              bytes, or with --json {"servtdInfoHash": hex};
                              --output-file is the same option
      --json                  print or write the hash as JSON
  -t, --test-disable-ra-and-accept-all
                              the image was built with that feature: RTMR2 holds
                              its event instead of the policy and root CA
      --policy-v2             the image was built with policy v2: RTMR1 includes
                              the policy issuer chain, RTMR2 only the policy
  -s, --servtd-attr N         SERVTD_ATTR as a 64-bit number, decimal or 0x hex
                              (default 0); bits 32-41 zero TD_INFO fields
  -c, --calc-servtd-hash      output SERVTD_HASH instead of SERVTD_INFO_HASH
      --output-td-info FILE   write {"mrtd","rtmr0".."rtmr3"} as lowercase hex JSON
      --update-tcb-mapping FILE
                              set svnMappings[0].tdMeasurements mrtd, rtmr0 and
                              rtmr1 of a policy v2 tcb_mapping.json (uppercase hex)
      --page-order ORDER      single-pass (default; KVM, QEMU up to 8.1, migtd-hash)
                              or two-pass (Intel QEMU TDX 8.2.50, Ubuntu 24.04)
  -v, --verbose               print MRTD and RTMRs to stderr
  -h, --help                  show this help

Exit status:
  0    success
  2    invalid input: a bad option, image or servtd_info file
  70   internal error (a bug in migtd-repro; please report it)
  130  interrupted by SIGINT or SIGTERM
`;

const OPTIONS = {
  image: { type: "string", short: "i" },
  "servtd-info": { type: "string", short: "m" },
  manifest: { type: "string" },
  output: { type: "string", short: "o" },
  "output-file": { type: "string" },
  json: { type: "boolean" },
  "test-disable-ra-and-accept-all": { type: "boolean", short: "t" },
  "policy-v2": { type: "boolean" },
  "servtd-attr": { type: "string", short: "s" },
  "calc-servtd-hash": { type: "boolean", short: "c" },
  "output-td-info": { type: "string" },
  "update-tcb-mapping": { type: "string" },
  "page-order": { type: "string" },
  verbose: { type: "boolean", short: "v" },
} as const;

// migtd-hash v0.7.1's JSON keys for the two hashes.
const SERVTD_HASH_KEY = "servtdHash";
const SERVTD_INFO_HASH_KEY = "servtdInfoHash";

export async function run(argv: string[]): Promise<number> {
  const { values } = parseCommandArgs("hash", { args: argv, options: OPTIONS, strict: true, allowPositionals: false });

  if (values.image === undefined) throw new UsageError("hash: --image is required (see 'migtd-repro hash --help')");
  const servtdInfoPath = oneOf("--servtd-info", values["servtd-info"], "--manifest", values.manifest) ?? packagePath("config", "servtd_info.json");
  const output = oneOf("--output", values.output, "--output-file", values["output-file"]);
  const servtdAttr = parseServtdAttr(values["servtd-attr"]);
  const pageOrder = parsePageOrder(values["page-order"]);

  const servtdInfo = parseServtdInfo(readJsonFile(servtdInfoPath, "servtd_info file"), servtdInfoPath);
  const file = openInputFile(values.image, "image");
  let hashes: ImageHashes;
  try {
    const image = ImageBytes.fromFile(file);
    rejectIgvm(image, values.image);
    hashes = hashImage(image, {
      servtdInfo,
      policyV2: values["policy-v2"] ?? false,
      testDisableRaAndAcceptAll: values["test-disable-ra-and-accept-all"] ?? false,
      servtdAttr,
      pageOrder,
    });
    // The image is read in parts, so a file rewritten meanwhile could give
    // the hash of a mix of two images.
    file.checkUnchanged();
  } finally {
    file.close();
  }
  if (values.verbose) printRegisters(hashes);

  if (values["output-td-info"] !== undefined) await writeTdInfo(values["output-td-info"], hashes);
  if (values["update-tcb-mapping"] !== undefined) await updateTcbMapping(values["update-tcb-mapping"], hashes);

  const [hash, key] = values["calc-servtd-hash"]
    ? [hashes.servtdHash, SERVTD_HASH_KEY]
    : [hashes.servtdInfoHash, SERVTD_INFO_HASH_KEY];
  await emitHash(hash, key, output, values.json ?? false);
  return EXIT.ok;
}

function oneOf(nameA: string, a: string | undefined, nameB: string, b: string | undefined): string | undefined {
  if (a !== undefined && b !== undefined) {
    throw new UsageError(`hash: ${nameA} and ${nameB} are the same option; give only one`);
  }
  return a ?? b;
}

const U64_MAX = (1n << 64n) - 1n;

function parseServtdAttr(text: string | undefined): bigint {
  if (text === undefined) return 0n;
  const valid = /^(0x[0-9a-f]+|[0-9]+)$/i.test(text);
  const value = valid ? BigInt(text) : -1n;
  if (value < 0n || value > U64_MAX) {
    throw new UsageError(`hash: --servtd-attr ${JSON.stringify(text)} is not a 64-bit number; give decimal (4294967296) or 0x hex (0x100000000)`);
  }
  return value;
}

function parsePageOrder(text: string | undefined): PageOrder {
  if (text === undefined) return "single-pass";
  if ((PAGE_ORDERS as readonly string[]).includes(text)) return text as PageOrder;
  throw new UsageError(`hash: --page-order ${JSON.stringify(text)} is not one of ${PAGE_ORDERS.join(", ")}`);
}

const IGVM_MAGIC = Buffer.from("IGVM", "latin1");

function rejectIgvm(image: ImageBytes, path: string): void {
  if (image.length >= IGVM_MAGIC.length && IGVM_MAGIC.equals(image.view(0, IGVM_MAGIC.length))) {
    throw new MeasureError("unsupported-format", `${path} is an IGVM file; migtd-repro measures the raw TDVF image (migtd.bin, built with --image-format tdvf)`);
  }
}

function printRegisters(hashes: ImageHashes): void {
  const lines = [`MRTD: ${hashes.mrtd.toString("hex")}`, ...hashes.rtmr.map((value, index) => `RTMR${index}: ${value.toString("hex")}`)];
  process.stderr.write(`${lines.join("\n")}\n`);
}

/**
 * Writes the registers as migtd-hash v0.7.1 does: compact JSON, keys in this
 * order, lowercase hex, no trailing newline. Like migtd-hash, it writes the
 * values after the SERVTD_ATTR mask.
 */
async function writeTdInfo(path: string, hashes: ImageHashes): Promise<void> {
  const tdInfo = {
    mrtd: hashes.mrtd.toString("hex"),
    rtmr0: hashes.rtmr[0].toString("hex"),
    rtmr1: hashes.rtmr[1].toString("hex"),
    rtmr2: hashes.rtmr[2].toString("hex"),
    rtmr3: hashes.rtmr[3].toString("hex"),
  };
  await writeFileAtomic(path, JSON.stringify(tdInfo));
}

/**
 * Sets svnMappings[0].tdMeasurements.{mrtd,rtmr0,rtmr1} to uppercase hex and
 * rewrites the file as migtd-hash v0.7.1 does: serde_json without
 * preserve_order, so compact JSON with every object's keys sorted and no
 * trailing newline, then "Updated PATH successfully." on stdout.
 */
async function updateTcbMapping(path: string, hashes: ImageHashes): Promise<void> {
  const mapping = readJsonFile(path, "tcb mapping file");
  const svnMappings = (mapping as { svnMappings?: unknown } | null)?.svnMappings;
  if (!Array.isArray(svnMappings)) {
    throw new UsageError(`hash: 'svnMappings' missing or not an array in ${path}`);
  }
  if (svnMappings.length === 0) throw new UsageError(`hash: 'svnMappings' array is empty in ${path}`);

  const measurements = (svnMappings[0] as { tdMeasurements?: unknown } | null)?.tdMeasurements;
  if (typeof measurements !== "object" || measurements === null || Array.isArray(measurements)) {
    throw new UsageError(`hash: 'tdMeasurements' missing or not an object in ${path}`);
  }

  const values: [string, Buffer][] = [["mrtd", hashes.mrtd], ["rtmr0", hashes.rtmr[0]], ["rtmr1", hashes.rtmr[1]]];
  for (const [key, value] of values) {
    if (!(key in measurements)) process.stderr.write(`Warning: '${key}' not found in tdMeasurements, adding it.\n`);
    (measurements as Record<string, unknown>)[key] = value.toString("hex").toUpperCase();
  }

  await writeFileAtomic(path, stringifySorted(mapping));
  process.stdout.write(`Updated ${path} successfully.\n`);
}

/**
 * JSON.stringify with object keys in serde_json's default (BTreeMap) order:
 * byte-wise comparison of the UTF-8 keys.
 * NOTE: numbers are printed the JavaScript way, so a float such as 1.0 comes
 * out as 1 where serde_json prints 1.0; upstream tcb mappings hold integers.
 */
export function stringifySorted(value: unknown): string {
  return JSON.stringify(value, (_key, item: unknown) => {
    if (typeof item !== "object" || item === null || Array.isArray(item)) return item;
    const keys = Object.keys(item).sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
    return Object.fromEntries(keys.map((key) => [key, (item as Record<string, unknown>)[key]]));
  });
}

/**
 * Writes the hash by migtd-hash v0.7.1's rules. Without -o it prints lowercase hex
 * and a newline, or with --json pretty JSON and a newline. With -o it writes
 * the 48 raw bytes, or with --json compact JSON without a newline.
 */
async function emitHash(hash: Buffer, key: string, output: string | undefined, json: boolean): Promise<void> {
  const hex = hash.toString("hex");
  if (output === undefined) {
    process.stdout.write(json ? `${JSON.stringify({ [key]: hex }, null, 2)}\n` : `${hex}\n`);
    return;
  }
  await writeFileAtomic(output, json ? JSON.stringify({ [key]: hex }) : hash);
}
