import assert from "node:assert/strict";
import { createServer, type Server, type Socket } from "node:net";
import { test } from "node:test";
import { connectEngine, engineFailure } from "../../pipeline/engine.js";
import { BuildError } from "../../pipeline/errors.js";

/** Runs `body` with DOCKER_HOST set to `value`, restoring it afterwards. */
async function withDockerHost<T>(value: string, body: () => Promise<T>): Promise<T> {
  const saved = process.env.DOCKER_HOST;
  process.env.DOCKER_HOST = value;
  try {
    return await body();
  } finally {
    if (saved === undefined) delete process.env.DOCKER_HOST;
    else process.env.DOCKER_HOST = saved;
  }
}

/** Starts a TCP server on loopback that accepts connections and never responds. */
async function silentServer(): Promise<{ server: Server; port: number; sockets: Socket[] }> {
  const sockets: Socket[] = [];
  const server = createServer((socket) => sockets.push(socket));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { server, port: (server.address() as { port: number }).port, sockets };
}

test("connectEngine: silent engine times out", async () => {
  const { server, port, sockets } = await silentServer();
  try {
    const started = Date.now();
    await withDockerHost(`tcp://127.0.0.1:${port}`, async () => {
      await assert.rejects(connectEngine({ timeoutMs: 300 }), (error: BuildError) => {
        assert.equal(error.code, "engine-unreachable");
        assert.match(error.message, new RegExp(`no Docker engine answered at tcp://127\\.0\\.0\\.1:${port} \\(no response within 0\\.3 s\\)`));
        return true;
      });
    });
    assert.ok(Date.now() - started < 5000);
  } finally {
    for (const socket of sockets) socket.destroy();
    server.close();
  }
});

test("connectEngine: abort ends the ping", async () => {
  const { server, port, sockets } = await silentServer();
  try {
    await withDockerHost(`tcp://127.0.0.1:${port}`, async () => {
      await assert.rejects(connectEngine({ signal: AbortSignal.timeout(200) }), { code: "interrupted" });
    });
  } finally {
    for (const socket of sockets) socket.destroy();
    server.close();
  }
});

test("connectEngine: unparsable DOCKER_HOST names it", async () => {
  await withDockerHost("ssh://user@127.0.0.1:notaport", async () => {
    await assert.rejects(connectEngine(), (error: BuildError) => {
      assert.equal(error.code, "engine-unreachable");
      assert.match(error.message, /^DOCKER_HOST 'ssh:\/\/user@127\.0\.0\.1:notaport' is not a Docker engine address/);
      return true;
    });
  });
});

test("engineFailure: connection errors become environment errors", () => {
  const reset = Object.assign(new Error("read ECONNRESET"), { code: "ECONNRESET" });
  const other = new Error("something else");
  const build = new BuildError("timeout", "phase timed out");

  const mapped = engineFailure(reset) as BuildError;

  assert.equal(mapped.code, "engine-unreachable");
  assert.equal(mapped.kind, "environment");
  assert.match(mapped.message, /failed during the build \(read ECONNRESET\)/);
  assert.equal(engineFailure(other), other);
  assert.equal(engineFailure(build), build);
});
