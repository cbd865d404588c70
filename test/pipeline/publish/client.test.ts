import assert from "node:assert/strict";
import { createServer, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { after, test } from "node:test";
import { createGitHubClient } from "../../../pipeline/publish/client.js";
import { toPublishError } from "../../../pipeline/publish/request-errors.js";

const servers: Server[] = [];
const openResponses: ServerResponse[] = [];

after(() => {
  for (const response of openResponses) response.destroy();
  for (const server of servers) server.close();
});

/** Starts an HTTP server on 127.0.0.1 and returns its URL. */
async function serve(handler: (response: ServerResponse) => void): Promise<string> {
  const server = createServer((_request, response) => {
    openResponses.push(response);
    handler(response);
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

function client(apiUrl: string) {
  return createGitHubClient({ apiUrl, retries: 0, responseTimeoutMs: 300 });
}

test("client: a server that never responds times out", { timeout: 10_000 }, async () => {
  const apiUrl = await serve(() => {});
  const started = performance.now();

  const error = await client(apiUrl)
    .rest.repos.get({ owner: "acme", repo: "migtd" })
    .then(() => undefined, (failure: unknown) => toPublishError(failure, { repo: "acme/migtd", action: "read the repository", permission: "metadata: read" }));

  assert.ok(performance.now() - started < 5000, "the request ended well before 5 s");
  assert.equal((error as { code?: string }).code, "network");
  assert.match((error as Error).message, /no response from http:\/\/127\.0\.0\.1:\d+ \(no data from or to the server within 0\.3 s\)/);
});

test("client: a body that stops times out", { timeout: 10_000 }, async () => {
  // Headers and the first part of the JSON, then nothing.
  const apiUrl = await serve((response) => {
    response.writeHead(200, { "content-type": "application/json" });
    response.write('{"name": "mig');
  });

  await assert.rejects(client(apiUrl).rest.repos.get({ owner: "acme", repo: "migtd" }), /no data from or to the server within 0\.3 s/);
});

test("client: a slow but steady body succeeds", { timeout: 10_000 }, async () => {
  // Each part arrives within the limit, though the whole body takes longer.
  const apiUrl = await serve((response) => {
    response.writeHead(200, { "content-type": "application/json" });
    const parts = ['{"name":', ' "migtd",', ' "full_name":', ' "acme/migtd"}'];
    const timer = setInterval(() => {
      const part = parts.shift();
      if (part === undefined) {
        clearInterval(timer);
        response.end();
      } else {
        response.write(part);
      }
    }, 150);
  });

  const { data } = await client(apiUrl).rest.repos.get({ owner: "acme", repo: "migtd" });

  assert.equal(data.full_name, "acme/migtd");
});

test("client: an upload the server stops reading times out", { timeout: 10_000 }, async () => {
  // The server never reads the request body, so once the socket buffers
  // are full no further part of the 8 MiB upload is taken.
  const apiUrl = await serve(() => {});
  const data = Buffer.alloc(8 * 1024 * 1024, 1);
  const started = performance.now();

  const upload = client(apiUrl).request({
    method: "POST",
    url: `${apiUrl}/repos/acme/migtd/releases/1/assets{?name}`,
    name: "migtd.bin",
    data,
    headers: { "content-type": "application/octet-stream", "content-length": String(data.length) },
  });

  await assert.rejects(upload, /no data from or to the server within 0\.3 s/);
  assert.ok(performance.now() - started < 5000, "the upload ended well before 5 s");
});

test("client: an upload reaches the server whole", { timeout: 10_000 }, async () => {
  const received: Buffer[] = [];
  const server = createServer((request, response) => {
    request.on("data", (part: Buffer) => received.push(part));
    request.on("end", () => {
      response.writeHead(201, { "content-type": "application/json" });
      response.end('{"id": 7}');
    });
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const apiUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const data = Buffer.from(Array.from({ length: 200_000 }, (_, index) => index % 251));

  const { status } = await client(apiUrl).request({
    method: "POST",
    url: `${apiUrl}/repos/acme/migtd/releases/1/assets{?name}`,
    name: "migtd.bin",
    data,
    headers: { "content-type": "application/octet-stream", "content-length": String(data.length) },
  });

  assert.equal(status, 201);
  assert.ok(Buffer.concat(received).equals(data), "the server received the same bytes");
});

test("client: a 204 response passes through", { timeout: 10_000 }, async () => {
  const apiUrl = await serve((response) => {
    response.writeHead(204);
    response.end();
  });

  const { status } = await client(apiUrl).rest.repos.deleteReleaseAsset({ owner: "acme", repo: "migtd", asset_id: 1 });

  assert.equal(status, 204);
});
