// Stands in for the ssh2 package inside the bundled dockerode
// (scripts/bundle.mjs). docker-modem reads ssh2's Client when it loads but
// only constructs one for an ssh:// DOCKER_HOST, so the real package loads
// from node_modules at that point instead of at every start.
"use strict";

const { dirname } = require("node:path");

/**
 * Requires ssh2 the way docker-modem would: from docker-modem's folder,
 * which dockerode's folder leads to. ssh2 is not migtd-repro's own
 * dependency, so a strict node_modules layout (pnpm) would not find it
 * from the bundle.
 */
function realSsh2() {
  const resolveFrom = (request, from) => require.resolve(request, { paths: [from] });
  const dockerode = dirname(resolveFrom("dockerode/package.json", __dirname));
  const modem = dirname(resolveFrom("docker-modem/package.json", dockerode));
  return require(resolveFrom("ssh2", modem));
}

class Client {
  constructor(...args) {
    return new (realSsh2().Client)(...args);
  }
}

module.exports = { Client };
