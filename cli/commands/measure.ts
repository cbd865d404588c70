// Only attest/ modules and node built-ins are imported here, so that
// `measure` never loads the Docker or GitHub clients.
import {
  inspectImage,
  matchingPageOrders,
  sectionRanges,
  type ImageReport,
} from "../../attest/image-report.js";
import { hex } from "../../attest/measure-error.js";
import type { PageOrder } from "../../attest/mrtd.js";
import { parseCommandArgs } from "../args.js";
import { EXIT } from "../exit.js";
import { readInputFile } from "../io.js";
import { UsageError } from "../usage-error.js";

export const help = `Usage: migtd-repro measure IMAGE [--json] [--expect-mrtd HEX]

Shows what a TD firmware image (MigTD, td-shim or OVMF/TDVF) measures to:
the metadata layout, the TDVF section table, MRTD in both page orders,
MigTD's RTMRs when the CFV holds a MigTD policy, the CFV files, and the
sha256 and sha384 of the file.

Options:
      --json              print one JSON object instead of text
      --expect-mrtd HEX   MRTD (96 hex digits) from a TD quote or a reference;
                          report which page order reproduces it
  -h, --help              show this help

Page orders: single-pass adds and extends each page in turn (Linux KVM,
QEMU up to 8.1, migtd-hash); two-pass adds every page of a section, then
extends them (Intel QEMU TDX 8.2.50, Ubuntu 24.04 QEMU 8.2.2+tdx).

Exit status:
  0    success (with --expect-mrtd: a page order reproduces it)
  1    --expect-mrtd is reproduced by no page order
  2    invalid input: a bad option or image
  70   internal error (a bug in migtd-repro; please report it)
  130  interrupted by SIGINT or SIGTERM
`;

const ORDER_SOURCES: Record<PageOrder, string> = {
  "single-pass": "PAGE.ADD then MR.EXTEND for each page: Linux KVM, QEMU up to 8.1, migtd-hash",
  "two-pass": "every PAGE.ADD of a section, then its MR.EXTENDs: Intel QEMU TDX 8.2.50, Ubuntu 24.04 QEMU",
};

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs("measure", {
    args: argv,
    options: { json: { type: "boolean" }, "expect-mrtd": { type: "string" } },
    strict: true,
    allowPositionals: true,
  });
  if (positionals.length !== 1) {
    throw new UsageError("measure: give exactly one IMAGE (see 'migtd-repro measure --help')");
  }

  const expected = values["expect-mrtd"];
  if (expected !== undefined && !/^[0-9a-fA-F]{96}$/.test(expected)) {
    throw new UsageError(`measure: --expect-mrtd must be 96 hex digits (48 bytes), got ${expected.length} characters`);
  }

  const path = positionals[0]!;
  const report = inspectImage(readInputFile(path, "image"));
  const matches = expected === undefined ? null : matchingPageOrders(report, expected);

  if (values.json) {
    process.stdout.write(`${JSON.stringify(toJson(path, report, expected, matches), null, 2)}\n`);
  } else {
    process.stdout.write(formatText(path, report));
    if (expected !== undefined) process.stdout.write(formatExpectation(matches!));
  }
  return matches !== null && matches.length === 0 ? EXIT.checkFailed : EXIT.ok;
}

function toJson(path: string, report: ImageReport, expected: string | undefined, matches: PageOrder[] | null) {
  const json: Record<string, unknown> = {
    image: { path, size: report.size, sha256: report.sha256, sha384: report.sha384 },
    metadata: {
      layout: report.layout,
      locatorOffset: report.locatorOffset,
      descriptorOffset: report.descriptorOffset,
      sections: report.sections.map((section) => ({
        ...section,
        memoryAddress: hex(section.memoryAddress),
        memoryDataSize: hex(section.memoryDataSize),
      })),
    },
    mrtd: { singlePass: report.mrtd["single-pass"], twoPass: report.mrtd["two-pass"] },
    cfv: report.cfv,
    migtdRtmrs: report.migtdRtmrs,
  };
  if (expected !== undefined) json.expectMrtd = { value: expected.toLowerCase(), matchingPageOrders: matches };
  return json;
}

function formatText(path: string, report: ImageReport): string {
  const layout = report.layout === "td-shim" ? "td-shim metadata pointer" : "OVMF GUID table";
  const lines = [
    `Image:       ${path} (${report.size} bytes)`,
    `sha256:      ${report.sha256}`,
    `sha384:      ${report.sha384}`,
    `Metadata:    ${layout} at ${hex(report.locatorOffset)}, TDVF descriptor at ${hex(report.descriptorOffset)}, ${report.sections.length} sections`,
    "",
    ...formatSections(report),
    "",
    `MRTD single-pass: ${report.mrtd["single-pass"]}`,
    `MRTD two-pass:    ${report.mrtd["two-pass"]}`,
    ...formatRtmrs(report),
    ...formatCfv(report),
  ];
  return `${lines.join("\n")}\n`;
}

function formatSections(report: ImageReport): string[] {
  const rows = report.sections.map((section) => {
    const ranges = sectionRanges(section);
    return [String(section.index), section.typeName, ranges.file, ranges.memory, section.attributeNames];
  });
  return table(["#", "Type", "File range", "GPA range", "Attributes"], rows);
}

function formatRtmrs(report: ImageReport): string[] {
  if (report.migtdRtmrs === null) return [];
  const { policyVersion, rtmr } = report.migtdRtmrs;
  return [
    "",
    `MigTD RTMRs (policy v${policyVersion}, as migtd-hash computes them):`,
    ...rtmr.map((value, index) => `  RTMR${index}: ${value}`),
  ];
}

function formatCfv(report: ImageReport): string[] {
  const cfv = report.cfv;
  if (cfv === null) return ["", "CFV: none (no type 1 section with data)"];
  if (cfv.error !== null) return ["", `CFV at ${hex(cfv.offset)} (${hex(cfv.size)} bytes): ${cfv.error}`];

  const heading = `CFV at ${hex(cfv.offset)} (${hex(cfv.size)} bytes), file system ${cfv.fileSystemGuid}, ${cfv.files.length} files`;
  if (cfv.files.length === 0) return ["", heading];
  const rows = cfv.files.map((file) => [file.guid, file.knownName ?? "-", String(file.size), file.sha384]);
  return ["", heading, ...table(["GUID", "Name", "Size", "sha384"], rows).map((line) => `  ${line}`)];
}

function formatExpectation(matches: PageOrder[]): string {
  if (matches.length === 0) {
    return "\nExpected MRTD: reproduced by no page order; the image, the VMM's TDVF loading or the expected value differ\n";
  }
  const lines = matches.map((order) => `Expected MRTD: matches ${order} (${ORDER_SOURCES[order]})`);
  return `\n${lines.join("\n")}\n`;
}

function table(header: string[], rows: string[][]): string[] {
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => row[column]!.length)));
  const format = (row: string[]) => row.map((cell, column) => cell.padEnd(widths[column]!)).join("  ").trimEnd();
  return [format(header), ...rows.map(format)];
}
