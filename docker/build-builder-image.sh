#!/usr/bin/env bash
# Makes a guest's builder image from its recipe's "builder.rootfs" and
# prints the image ID to put in the recipe's "builder.image". Maintainers run
# it after changing the package list, the suite or the build user.
#   docker/build-builder-image.sh [RECIPE]   (default: minitd)
# RECIPE is a bundled guest's name or a path to a recipe.json. Needs root
# (debootstrap) and a Docker engine; run 'npm run build' first.
# Exit status: 0 made (the ID is on stdout), 2 invalid recipe, 3 environment
# (no root, no debootstrap, no engine, the mirror's packages differ),
# 4 debootstrap or the image load failed.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
export MIGTD_REPRO_ROOT="$root"
exec node --input-type=module - "${1:-minitd}" <<'NODE'
import pino from "pino";
const root = process.env.MIGTD_REPRO_ROOT;
const { loadRecipe } = await import(`${root}/dist/pipeline/recipe.js`);
const { connectEngine } = await import(`${root}/dist/pipeline/engine.js`);
const { makeBuilderImage } = await import(`${root}/dist/pipeline/builder-image.js`);
const { EXIT, EXIT_BY_KIND } = await import(`${root}/dist/cli/exit.js`);

const log = pino(pino.destination(2));
try {
  const loaded = await loadRecipe(process.argv[2]);
  const image = await makeBuilderImage(await connectEngine(), loaded.recipe, log);
  const pin = loaded.recipe.builder.image;
  process.stderr.write(
    `builder image ${image.tag}: ${image.id}\n` +
      `  layer ${image.diffId}, ${image.layerBytes} bytes\n` +
      `  debootstrap ${image.seconds.debootstrap} s, layer ${image.seconds.layer} s, load ${image.seconds.load} s\n` +
      (pin === image.id ? "  matches the recipe's pin\n" : `  recipe pins ${pin ?? "nothing"}: set "builder.image" to the ID above\n`),
  );
  process.stdout.write(`${image.id}\n`);
} catch (error) {
  process.stderr.write(`build-builder-image: ${error.message}\n`);
  process.exit(error.kind ? EXIT_BY_KIND[error.kind] : EXIT.internal);
}
NODE
