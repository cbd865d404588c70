import { closeSync, fstatSync, openSync, readSync } from "node:fs";
import type { RecordMeasurementValue } from "../attest/build-record.js";
import { packagePath } from "../config/package-root.js";
import { BuildError } from "./errors.js";
import { readInputFile } from "./read-input.js";
import { recipeFile, type LoadedRecipe } from "./recipe.js";

/**
 * Starts loading the measurement library. The build calls it when its
 * containers start, so the import runs while the engine builds.
 */
export function loadMeasurement(): Promise<typeof import("../attest/index.js")> {
  return import("../attest/index.js");
}

/** Measurement flags of one build, after options are applied. */
export interface MeasureFlags {
  policyV2: boolean;
  testDisableRaAndAcceptAll: boolean;
  pageOrder: "single-pass" | "two-pass";
  servtdInfoPath: string;
}

/**
 * Resolves the recipe's measurement settings: fixed values, overridden by
 * the options that `measure.fromOptions` names.
 */
export function measureFlags(
  loaded: LoadedRecipe,
  options: Record<string, string | boolean>,
): MeasureFlags {
  const { measure } = loaded.recipe;
  let policyV2 = measure.policyV2;
  let testDisableRaAndAcceptAll = measure.testDisableRaAndAcceptAll;

  const fromOptions = measure.fromOptions;
  if (fromOptions?.policyV2 !== undefined) {
    policyV2 = options[fromOptions.policyV2] === true;
  }
  const listOption = fromOptions?.testDisableRaAndAcceptAll;
  if (listOption !== undefined) {
    const value = String(options[listOption.option] ?? "");
    testDisableRaAndAcceptAll = listHasItem(listOption.option, value, listOption.item);
  }

  return {
    policyV2,
    testDisableRaAndAcceptAll,
    pageOrder: measure.pageOrder,
    servtdInfoPath: measure.servtdInfo
      ? recipeFile(loaded, measure.servtdInfo)
      : packagePath("config", "servtd_info.json"),
  };
}

/**
 * Tells whether a cargo feature list names `item`. cargo splits `--features`
 * on commas and spaces, so both count here. A `package/feature` entry for
 * the item is rejected: the package decides whether it changes what the
 * image measures, and a wrong guess gives a wrong SERVTD_INFO_HASH.
 */
function listHasItem(option: string, value: string, item: string): boolean {
  const items = value.split(/[\s,]+/).filter((entry) => entry !== "");

  const prefixed = items.find((entry) => entry.endsWith(`/${item}`));
  if (prefixed !== undefined) {
    throw new BuildError(
      "input-invalid",
      `--${option} entry '${prefixed}' names ${item} of a package; give '${item}' without a package prefix`,
    );
  }

  return items.includes(item);
}

/**
 * Measures a built firmware image file with migtd-hash's algorithm. The
 * file is read a part at a time (ImageBytes), not into one buffer.
 */
export async function measureImage(
  imagePath: string,
  imageName: string,
  flags: MeasureFlags,
): Promise<RecordMeasurementValue> {
  const { hashImage, ImageBytes, imageHashesToHex, MeasureError, parseServtdInfo, servtdInfoToJson } =
    await loadMeasurement();
  const servtdInfo = parseServtdInfo(
    JSON.parse((await readInputFile("SERVTD_INFO", flags.servtdInfoPath)).toString("utf8")),
    flags.servtdInfoPath,
  );
  const servtdAttr = 0n;

  let hashes;
  const fd = openSync(imagePath, "r");
  try {
    const image = ImageBytes.fromFile({ size: fstatSync(fd).size, readInto: (target, offset) => readFully(fd, target, offset) });
    hashes = hashImage(image, {
      servtdInfo,
      policyV2: flags.policyV2,
      testDisableRaAndAcceptAll: flags.testDisableRaAndAcceptAll,
      servtdAttr,
      pageOrder: flags.pageOrder,
    });
  } catch (error) {
    if (error instanceof MeasureError) {
      throw new BuildError(
        "output-rejected",
        `the built image ${imageName} cannot be measured: ${error.message}`,
        { cause: error },
      );
    }
    throw error;
  } finally {
    closeSync(fd);
  }

  return {
    pageOrder: flags.pageOrder,
    servtdInfo: servtdInfoToJson(servtdInfo),
    servtdAttr: `0x${servtdAttr.toString(16)}`,
    policyV2: flags.policyV2,
    testDisableRaAndAcceptAll: flags.testDisableRaAndAcceptAll,
    ...imageHashesToHex(hashes),
  };
}

/** Reads target.length bytes at offset; the staged image is not expected to change. */
function readFully(fd: number, target: Uint8Array, offset: number): void {
  for (let filled = 0; filled < target.length; ) {
    const bytesRead = readSync(fd, target, filled, target.length - filled, offset + filled);
    if (bytesRead === 0) throw new BuildError("output-rejected", `the staged image became shorter while it was measured`);
    filled += bytesRead;
  }
}
