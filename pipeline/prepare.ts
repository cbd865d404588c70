import pino from "pino";
import { resolveBuilderImage, type BuilderImage } from "./builder.js";
import { connectEngine } from "./engine.js";
import { checkPinned, loadRecipe } from "./recipe.js";
import { applyOverrides } from "./resolve-recipe.js";
import { prepareSource, recipeSource, type PreparedSource } from "./source.js";

/**
 * Makes sure a recipe's builder image is in the engine, making it from the
 * recipe when it is missing, and checks it against the pin. The source is
 * fetched only when the image build needs files from it. Progress is
 * logged to stderr.
 */
export async function prepareBuilderImage(
  recipe: string | undefined,
  allowUnpinned: boolean,
): Promise<BuilderImage> {
  const loaded = applyOverrides(await loadRecipe(recipe));
  await checkPinned(loaded, allowUnpinned);
  const docker = await connectEngine();
  const log = pino({ base: { recipe: loaded.recipe.name } }, pino.destination(2));

  const needsSource = Object.keys(loaded.recipe.builder.dockerfile?.sourceFiles ?? {}).length > 0;
  let source: PreparedSource | undefined;
  try {
    if (needsSource) {
      source = await prepareSource(recipeSource(loaded.recipe.source, loaded.dir));
    }
    return await resolveBuilderImage(docker, loaded, log, source?.root);
  } finally {
    await source?.cleanup();
  }
}
