// Stands in for the ssh2 package inside the bundled dockerode
// (scripts/bundle.mjs). docker-modem reads ssh2's Client when it loads but
// only constructs one for an ssh:// DOCKER_HOST, so the real package loads
// from node_modules at that point instead of at every start.
"use strict";

class Client {
  constructor(...args) {
    const { Client: RealClient } = require("ssh2/lib/index.js");
    return new RealClient(...args);
  }
}

module.exports = { Client };
