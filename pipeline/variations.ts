import { randomBytes } from "node:crypto";

/** Conditions that must not change a build's output, set per build. */
export interface BuildVariation {
  hostname: string;
  umask: string;
  /** Unrelated variables added to the container environment. */
  extraEnv: Record<string, string>;
  /** CPUs the container may run on (Docker `CpusetCpus`), or all of them. */
  cpuset?: string;
}

/** The first build's conditions, which the others vary. */
export const BASELINE: BuildVariation = {
  hostname: "migtd-build",
  umask: "0022",
  extraEnv: {},
};

/**
 * Conditions of build `index` (0 is the baseline): another hostname, umask
 * 0002 or 0077 in turn, an extra environment variable, and a single CPU
 * when the engine has more than one. Every build also starts at a later
 * wall-clock time than the one before.
 */
export function variationFor(index: number, engineCpus: number): BuildVariation {
  if (index === 0) return BASELINE;
  const token = randomBytes(4).toString("hex");
  return {
    hostname: `rebuild-${index}-${token}`,
    umask: index % 2 === 1 ? "0002" : "0077",
    extraEnv: { MIGTD_REPRO_UNRELATED: token },
    cpuset: engineCpus > 1 ? String(index % engineCpus) : undefined,
  };
}

/** Names of the conditions varied across `builds` builds, for the record. */
export function variedConditions(builds: number, engineCpus: number): string[] {
  if (builds < 2) return [];
  // NOTE: the container clock is not shifted (that needs libfaketime in the
  // builder image); builds differ in wall-clock time only by running later.
  const varied = ["hostname", "umask", "environment", "wall-clock time"];
  if (engineCpus > 1) varied.push("cpuset");
  return varied;
}
