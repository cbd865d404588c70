// Stands in for dockerode's lib/session.js inside the bundled dockerode
// (scripts/bundle.mjs). The real module loads @grpc/grpc-js and reads a
// .proto file next to itself, and only BuildKit builds (version "2") call
// it, so it loads from node_modules on the first call.
"use strict";

module.exports = function withSession(...args) {
  return require("dockerode/lib/session.js")(...args);
};
