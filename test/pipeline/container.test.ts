import assert from "node:assert/strict";
import { test } from "node:test";
import { BUILD_LABEL, containerOptions, networkMode, type PhaseContainerSpec } from "../../pipeline/container.js";
import { variationFor, variedConditions } from "../../pipeline/variations.js";

const spec: PhaseContainerSpec = {
  imageId: `sha256:${"b".repeat(64)}`,
  buildId: "abc",
  recipeName: "unit",
  phase: { name: "build", command: ["make", "all"], network: false },
  env: { TZ: "UTC", HOME: "/home/builder" },
  uid: 1000,
  gid: 1001,
  sourcePath: "/home/builder/src",
  hostname: "migtd-build",
  umask: "0022",
  memoryBytes: 1024 ** 3,
  cpus: 1.5,
};

test("containerOptions: isolation settings", () => {
  const options = containerOptions(spec);

  assert.equal(options.User, "1000:1001");
  assert.equal(options.WorkingDir, "/home/builder/src");
  assert.deepEqual(options.Env, ["TZ=UTC", "HOME=/home/builder"]);
  assert.deepEqual(options.Cmd, ["/bin/sh", "-c", 'umask 0022 && exec "$@"', "migtd-repro-umask", "make", "all"]);
  assert.equal(options.Labels?.[BUILD_LABEL], "abc");
  assert.equal(options.HostConfig?.NetworkMode, "none");
  assert.equal(options.HostConfig?.Init, true);
  assert.deepEqual(options.HostConfig?.Binds, []);
  assert.deepEqual(options.HostConfig?.Mounts, []);
  assert.equal(options.HostConfig?.Memory, 1024 ** 3);
  assert.equal(options.HostConfig?.MemorySwap, 1024 ** 3);
  assert.equal(options.HostConfig?.NanoCpus, 1_500_000_000);
});

test("containerOptions: network phase gets network", () => {
  const fetch = { name: "fetch", command: ["cargo", "fetch"], network: true };

  assert.equal(networkMode(fetch), "bridge");
  assert.notEqual(containerOptions({ ...spec, phase: fetch }).HostConfig?.NetworkMode, "none");
});

test("variationFor: baseline and varied builds", () => {
  const baseline = variationFor(0, 4);
  const second = variationFor(1, 4);
  const third = variationFor(2, 4);

  assert.deepEqual(baseline, { hostname: "migtd-build", umask: "0022", extraEnv: {} });
  assert.notEqual(second.hostname, baseline.hostname);
  assert.equal(second.umask, "0002");
  assert.equal(third.umask, "0077");
  assert.equal(second.cpuset, "1");
  assert.equal(third.cpuset, "2");
  assert.ok(second.extraEnv.MIGTD_REPRO_UNRELATED);
  assert.equal(variationFor(1, 1).cpuset, undefined);
  assert.deepEqual(variedConditions(1, 4), []);
  assert.ok(variedConditions(2, 4).includes("cpuset"));
  assert.ok(!variedConditions(2, 1).includes("cpuset"));
});
