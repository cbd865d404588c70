import { enrollMigtdFiles, MAX_ENROLLED_FILE_SIZE, type MigtdCfvFiles } from "../../attest/cfv-enroll.js";
import { parseCommandArgs } from "../args.js";
import { writeFileAtomic } from "../atomic-write.js";
import { EXIT } from "../exit.js";
import { readInputFile } from "../io.js";
import { UsageError } from "../usage-error.js";

export const help = `Usage: migtd-repro enroll IMAGE --policy FILE --root-ca FILE -o OUT
       migtd-repro enroll IMAGE --policy FILE --policy-v2 --policy-issuer-chain FILE -o OUT

Writes a fresh configuration firmware volume (CFV) into a copy of a td-shim
image, holding the migration policy and the root CA (policy v1) or the
policy issuer chain (policy v2) as raw files under MigTD's GUIDs, byte for
byte as td-shim-enroll writes it. The rest of the image is unchanged.

Options:
      --policy FILE               migration policy, JSON (1 byte to 1 MiB)
      --root-ca FILE              attestation root CA certificate (policy v1)
      --policy-v2                 enroll for policy v2
      --policy-issuer-chain FILE  policy issuer certificate chain (policy v2)
  -o, --output FILE               where to write the enrolled image
  -h, --help                      show this help

Exit status:
  0    success
  2    invalid input: a bad option, image, policy or file that does not fit
  70   internal error (a bug in migtd-repro; please report it)
  130  interrupted by SIGINT or SIGTERM
`;

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs("enroll", {
    args: argv,
    options: {
      policy: { type: "string" },
      "root-ca": { type: "string" },
      "policy-v2": { type: "boolean" },
      "policy-issuer-chain": { type: "string" },
      output: { type: "string", short: "o" },
    },
    strict: true,
    allowPositionals: true,
  });

  if (positionals.length !== 1) usage("give exactly one IMAGE");
  if (values.policy === undefined) usage("--policy is required");
  if (values.output === undefined) usage("-o OUT is required");
  const policyV2 = values["policy-v2"] ?? false;
  if (policyV2 && (values["policy-issuer-chain"] === undefined || values["root-ca"] !== undefined)) {
    usage("--policy-v2 takes --policy-issuer-chain and no --root-ca");
  }
  if (!policyV2 && (values["root-ca"] === undefined || values["policy-issuer-chain"] !== undefined)) {
    usage("policy v1 takes --root-ca; use --policy-v2 for --policy-issuer-chain");
  }

  const image = readInputFile(positionals[0]!, "image");
  const policy = readInputFile(values.policy, "policy file", MAX_ENROLLED_FILE_SIZE);
  const rootCaPath = values["root-ca"];
  const chainPath = values["policy-issuer-chain"];
  const files: MigtdCfvFiles = { policy };
  if (rootCaPath !== undefined) files.rootCa = readInputFile(rootCaPath, "root CA file", MAX_ENROLLED_FILE_SIZE);
  if (chainPath !== undefined) files.policyIssuerChain = readInputFile(chainPath, "policy issuer chain file", MAX_ENROLLED_FILE_SIZE);

  const enrolled = enrollMigtdFiles(image, files);
  await writeFileAtomic(values.output, enrolled);
  process.stdout.write(`Enrolled the policy and ${policyV2 ? "policy issuer chain" : "root CA"} into ${values.output}\n`);
  return EXIT.ok;
}

function usage(problem: string): never {
  throw new UsageError(`enroll: ${problem} (see 'migtd-repro enroll --help')`);
}
