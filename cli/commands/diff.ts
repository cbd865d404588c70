// Only attest/ modules and node built-ins are imported here.
import { diffImages, type DiffRange, type ImageDiff, type MeasurementComparison } from "../../attest/image-diff.js";
import { MeasureError, hex } from "../../attest/measure-error.js";
import { parseCommandArgs } from "../args.js";
import { EXIT } from "../exit.js";
import { readInputFile } from "../io.js";
import { UsageError } from "../usage-error.js";

export const help = `Usage: migtd-repro diff A B [--json]

Compares two TD firmware images byte by byte and explains each differing
range: the TDVF section, CFV file or metadata it falls in, with the offset
inside it and the guest physical address. Also says whether MRTD
(single-pass) and SERVTD_INFO_HASH (migtd-hash defaults: upstream
servtd_info.json, policy v1, SERVTD_ATTR 0) differ.

Options:
      --json   print one JSON object instead of text
  -h, --help   show this help

Exit status:
  0    the images are identical
  1    the images differ
  2    invalid input: a bad option, an unreadable file, or neither file has
       TD metadata
  70   internal error (a bug in migtd-repro; please report it)
  130  interrupted by SIGINT or SIGTERM
`;

/** Ranges listed in text output; --json lists up to the library's limit. */
const TEXT_RANGE_LIMIT = 50;

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs("diff", {
    args: argv,
    options: { json: { type: "boolean" } },
    strict: true,
    allowPositionals: true,
  });
  if (positionals.length !== 2) throw new UsageError("diff: give two images, A and B (see 'migtd-repro diff --help')");

  const [pathA, pathB] = positionals as [string, string];
  const diff = diffImages(readInputFile(pathA, "image"), readInputFile(pathB, "image"));
  if (diff.layoutFrom === null) {
    throw new MeasureError("no-metadata", `neither ${pathA} nor ${pathB} has valid TD metadata: ${diff.mrtd.errorA}`);
  }

  if (values.json) {
    process.stdout.write(`${JSON.stringify(diff, (_key, value: unknown) => (typeof value === "bigint" ? hex(value) : value), 2)}\n`);
  } else {
    process.stdout.write(formatText(diff, pathA, pathB));
  }
  return diff.identical ? EXIT.ok : EXIT.checkFailed;
}

function formatText(diff: ImageDiff, pathA: string, pathB: string): string {
  const lines = [`A: ${pathA} (${diff.sizeA} bytes)`, `B: ${pathB} (${diff.sizeB} bytes)`];
  if (diff.identical) return `${[...lines, "Identical."].join("\n")}\n`;

  lines.push(
    `${countOf(diff.differingBytes, "byte")} ${diff.differingBytes === 1 ? "differs" : "differ"} in ${countOf(diff.rangeCount, "range")} (regions from image ${diff.layoutFrom!.toUpperCase()}'s TD metadata)`,
    formatComparison("MRTD", diff.mrtd),
    formatComparison("SERVTD_INFO_HASH", diff.servtdInfoHash),
    "",
    ...diff.ranges.slice(0, TEXT_RANGE_LIMIT).map(formatRange),
  );
  if (diff.rangeCount > TEXT_RANGE_LIMIT) lines.push(`... ${diff.rangeCount - TEXT_RANGE_LIMIT} more ranges (see --json)`);
  return `${lines.join("\n")}\n`;
}

function formatComparison(name: string, comparison: MeasurementComparison): string {
  if (comparison.a === null || comparison.b === null) {
    const reason = comparison.errorA ?? comparison.errorB;
    return `${name}: cannot compare (${comparison.a === null ? "A" : "B"}: ${reason})`;
  }
  if (!comparison.differs) return `${name}: same (${comparison.a})`;
  return `${name}: differs\n  A ${comparison.a}\n  B ${comparison.b}`;
}

function formatRange(range: DiffRange): string {
  const span = `${hex(range.start)}-${hex(range.end)} (${countOf(range.end - range.start, "byte")})`;
  const only = range.onlyIn === undefined ? "" : ` only in ${range.onlyIn.toUpperCase()}`;
  const where = range.locations.length === 0
    ? "outside every section"
    : range.locations
        .map((location) => {
          const gpa = location.memoryAddress === undefined ? "" : `, GPA ${hex(location.memoryAddress)}`;
          return `${location.label} +${hex(location.offset)}${gpa}`;
        })
        .join("; ");
  return `${span}${only}: ${where}`;
}

/** Formats a count with its noun, "1 byte" or "2 bytes". */
function countOf(count: number, noun: string): string {
  return `${count} ${count === 1 ? noun : `${noun}s`}`;
}
