import type { ResolvedInput } from "./parameters.js";
import type { Recipe } from "./recipe-schema.js";

/**
 * Appends option and input flags to the command of each phase that has
 * `optionArgs`: a true boolean option adds its flag, a non-empty string
 * option its flag and value, and an input copied into the container its
 * flag and container path.
 */
export function phaseCommands(
  recipe: Recipe,
  options: Record<string, string | boolean>,
  inputs: ResolvedInput[],
): string[][] {
  const flags: string[] = [];
  for (const [name, spec] of Object.entries(recipe.options)) {
    const value = options[name];
    if (spec.flag === undefined) continue;
    if (value === true) flags.push(spec.flag);
    if (typeof value === "string" && value !== "") flags.push(spec.flag, value);
  }
  for (const input of inputs) {
    const flag = recipe.inputs[input.name]?.flag;
    if (flag !== undefined && !input.fromSource) flags.push(flag, input.containerPath);
  }
  return recipe.phases.map((phase) => (phase.optionArgs ? [...phase.command, ...flags] : phase.command));
}

/** Applies each output's `pathWhen`: the first entry whose values all match wins. */
export function resolveOutputs(
  recipe: Recipe,
  options: Record<string, string | boolean>,
): Recipe["outputs"] {
  return recipe.outputs.map((output) => {
    const match = output.pathWhen?.find((candidate) =>
      Object.entries(candidate.when).every(([name, value]) => options[name] === value),
    );
    return match ? { ...output, path: match.path } : output;
  });
}
