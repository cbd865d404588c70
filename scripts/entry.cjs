#!/usr/bin/env node
// The migtd-repro command: scripts/bundle.mjs copies this file to
// dist/bin/migtd-repro.cjs, beside the CLI bundle (cli.cjs). `verify`
// hashes the image on a worker thread, which takes 25 to 35 ms to start, so
// this file starts it before Node reads and compiles the bundle, which
// takes 7 to 10 ms (Node 20, 2-core development machine).
"use strict";

const [command, ...rest] = process.argv.slice(2);
// As in cli/main.ts: after "--" every argument is a value.
const options = rest.includes("--") ? rest.slice(0, rest.indexOf("--")) : rest;
if (command === "verify" && !options.includes("-h") && !options.includes("--help")) {
  require("./digest-prestart.cjs").prestartDigestWorker();
}
require("./cli.cjs");
