import pino from "pino";
import { resolveBuilderImage, type BuilderImage } from "./builder.js";
import { connectEngine } from "./engine.js";
import { checkPinned, loadRecipe } from "./recipe.js";

/**
 * Makes sure a recipe's builder image is in the engine, making it from the
 * recipe when it is missing, and checks it against the pin. Progress is
 * logged to stderr.
 */
export async function prepareBuilderImage(
  recipe: string | undefined,
  allowUnpinned: boolean,
): Promise<BuilderImage> {
  const loaded = await loadRecipe(recipe);
  checkPinned(loaded, allowUnpinned);
  const docker = await connectEngine();
  const log = pino({ base: { recipe: loaded.recipe.name } }, pino.destination(2));
  return resolveBuilderImage(docker, loaded, log);
}
