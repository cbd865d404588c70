import { LOCAL_BUILDER_ID } from "../../attest/uris.js";
import { parseCommandArgs } from "../args.js";
import { loadSigningKeys, signBuild, SIGNING_KEY_ENV } from "../attestation-files.js";
import { EXIT } from "../exit.js";
import { readJsonFile } from "../io.js";
import { sideFiles } from "../output-names.js";
import { UsageError } from "../usage-error.js";

export const help = `Usage: migtd-repro attest IMAGE [--build-record FILE] [--key KEY.pem ...]
                          [--builder-id URI] [--json]

Signs the attestations of an existing build. The image is measured again
with the parameters in its build record and must match the record. Writes,
next to the image NAME.bin, each file atomically:
  NAME.intoto.jsonl       DSSE envelopes, one per line: SLSA provenance v1,
                          TD measurements and, when repeated builds were
                          identical, reproducibility (see docs/attestation.md)
  NAME.servtd_info_hash   SERVTD_INFO_HASH as hex
  SHA256SUMS, SHA384SUMS  checksums of every file in the folder except
                          hidden files and PEM private keys

Options:
  --build-record FILE  build record written by 'build' (default NAME.build.json)
  --key KEY.pem        PEM private key, ECDSA P-256 or Ed25519; repeat to add
                       signatures. Without --key the PEM text is read from the
                       ${SIGNING_KEY_ENV} environment variable.
  --builder-id URI     provenance runDetails.builder.id, e.g. your CI's
                       builder URI (default:
                       ${LOCAL_BUILDER_ID})
  --json               print the written paths and key IDs as JSON
  -h, --help           show this help

Exit status:
  0    the attestations were written
  2    invalid input or usage: no key, an unreadable or unsupported key, a
       build record that does not describe IMAGE
  130  interrupted by SIGINT or SIGTERM
`;

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs("attest", {
    args: argv,
    strict: true,
    allowPositionals: true,
    options: {
      "build-record": { type: "string" },
      key: { type: "string", multiple: true, default: [] },
      "builder-id": { type: "string" },
      json: { type: "boolean", default: false },
    },
  });

  if (positionals.length !== 1) throw new UsageError("attest: give one IMAGE");
  const imagePath = positionals[0]!;
  const recordPath = values["build-record"] ?? sideFiles(imagePath).buildRecord;
  const builderId = values["builder-id"];
  if (builderId !== undefined && !URL.canParse(builderId)) {
    throw new UsageError(`attest: --builder-id '${builderId}' is not a URI`);
  }

  const keys = await loadSigningKeys(values.key);
  const signed = await signBuild({
    imagePath,
    buildRecord: await readJsonFile(recordPath, "build record"),
    buildRecordSource: recordPath,
    keys,
    builderId,
  });

  if (values.json) {
    process.stdout.write(`${JSON.stringify(signed)}\n`);
  } else {
    process.stdout.write(
      `signed ${signed.predicateTypes.length} statements with key ${signed.keyIds.join(", ")}\n` +
        `wrote ${[signed.attestationPath, signed.servtdInfoHashPath, ...signed.checksumPaths].join(", ")}\n` +
        `SERVTD_INFO_HASH ${signed.servtdInfoHash}\n`,
    );
  }
  return EXIT.ok;
}
