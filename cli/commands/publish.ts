import { pino, type Logger } from "pino";
import { parseCommandArgs } from "../args.js";
import { EXIT } from "../exit.js";
import { defaultTrustedKeysDir, loadTrustedKeys } from "../trusted-keys.js";
import { UsageError } from "../usage-error.js";

export const help = `Usage: migtd-repro publish --repo OWNER/NAME --tag TAG DIR [--name IMAGE]
                           [--draft] [--replace] [--key PUB.pem ...]
                           [--trusted-keys FILE|DIR ...] [--api-url URL] [--json]

Publishes a signed build folder (the output of 'migtd-repro build' after
'migtd-repro attest') as assets of the GitHub release for TAG: the image
NAME.bin, NAME.intoto.jsonl, NAME.servtd_info_hash, NAME.build.json, and
NAME.build.log, SHA256SUMS and SHA384SUMS when present.

Before any request to GitHub the folder is verified as 'migtd-repro verify'
does (signatures by a trusted key, subject digests, recomputed
measurements, NAME.servtd_info_hash) and the checksum lists are checked,
so nothing unverifiable is published.

The release is created when the tag has none, otherwise reused (drafts
included). An asset the release already has with the same size and SHA-256
is skipped, an incomplete one left by a failed upload is replaced, and one
with different content is an error unless --replace is given; conflicts are
reported before anything is uploaded. Running the command again after a
failure finishes the job.

The token comes from GITHUB_TOKEN, or GH_TOKEN when GITHUB_TOKEN is unset,
and needs the "contents: write" permission on the repository. It is never
logged. Rate limits are waited out as GitHub's headers ask (up to 15
minutes); 5xx responses and network errors are retried 3 times. A
server that reads nothing of an upload for 30 s, does not start its
response within 30 s, or pauses it that long, counts as a network error.

Options:
  --repo OWNER/NAME    repository to publish to
  --tag TAG            release tag; the release is created for it when missing
  --name IMAGE         image file name, e.g. migtd.bin, when DIR holds
                       several builds
  --draft              create the release as a draft when it does not exist
  --replace            replace assets whose content differs
  --key PUB.pem        trusted public key (PEM); repeat for several
  --trusted-keys PATH  PEM file, or folder of *.pem files, of trusted keys;
                       repeat for several. Without --key or --trusted-keys,
                       every *.pem file in
                       ${defaultTrustedKeysDir({ XDG_CONFIG_HOME: "$XDG_CONFIG_HOME" })}
                       is trusted.
  --api-url URL        GitHub REST API root (default $GITHUB_API_URL, else
                       https://api.github.com; GitHub Enterprise Server:
                       https://HOST/api/v3)
  --json               print the result as JSON on stdout
  -h, --help           show this help

Environment:
  GITHUB_TOKEN, GH_TOKEN   token for the GitHub API
  GITHUB_API_URL           API root when --api-url is not given

Exit status:
  0    every asset is published (uploaded now or already there)
  1    the folder does not verify, the release has an asset of the same
       name with different content (without --replace), or GitHub stored
       other bytes than were sent
  2    invalid input or usage: a bad option, a missing file in DIR, an
       unknown repository or an immutable release
  3    environment problem: no token, a token GitHub rejects or that lacks
       permission, a rate limit, GitHub server errors, no network
  130  interrupted by SIGINT or SIGTERM
`;

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs("publish", {
    args: argv,
    strict: true,
    allowPositionals: true,
    options: {
      repo: { type: "string" },
      tag: { type: "string" },
      name: { type: "string" },
      draft: { type: "boolean", default: false },
      replace: { type: "boolean", default: false },
      key: { type: "string", multiple: true, default: [] },
      "trusted-keys": { type: "string", multiple: true, default: [] },
      "api-url": { type: "string" },
      json: { type: "boolean", default: false },
    },
  });

  if (values.repo === undefined) throw new UsageError("publish: --repo OWNER/NAME is required");
  if (values.tag === undefined || values.tag === "") throw new UsageError("publish: --tag TAG is required");
  if (positionals.length !== 1) throw new UsageError("publish: give one output folder DIR");

  // Loaded here so that other commands never load octokit.
  const { apiUrlFromEnv, publishRelease, tokenFromEnv } = await import("../../pipeline/publish/index.js");
  const { attestationVerifier } = await import("../../pipeline/publish/verify-folder.js");
  const trusted = await loadTrustedKeys(values.key, values["trusted-keys"]);

  const result = await publishRelease({
    repo: values.repo,
    tag: values.tag,
    dir: positionals[0]!,
    name: values.name,
    draft: values.draft,
    replace: values.replace,
    token: tokenFromEnv(),
    verifyFolder: attestationVerifier(trusted),
    client: { apiUrl: apiUrlFromEnv(values["api-url"]) },
    logger: await stderrLogger(),
  });

  if (values.json) {
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  } else {
    const counts = (action: string) => result.assets.filter((asset) => asset.action === action).length;
    process.stdout.write(
      `${result.release.url}: ${counts("uploaded")} uploaded, ${counts("replaced")} replaced, ${counts("skipped")} already published\n`,
    );
  }
  return EXIT.ok;
}

/** Progress on stderr: readable lines on a terminal, JSON lines otherwise. */
async function stderrLogger(): Promise<Logger> {
  const level = process.env.MIGTD_REPRO_LOG_LEVEL ?? "info";
  if (!process.stderr.isTTY) return pino({ level, base: undefined }, pino.destination(2));
  // pino-pretty as a stream in this thread, not as a transport: a transport
  // resolves its target by file path, which the bundled pino cannot.
  const { default: pretty } = await import("pino-pretty");
  return pino({ level, base: undefined }, pretty({ destination: 2, sync: true }));
}
