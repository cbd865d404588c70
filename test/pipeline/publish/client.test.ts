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

test("client: a server that never responds times out", async () => {
  const apiUrl = await serve(() => {});
  const started = performance.now();

  const error = await client(apiUrl)
    .rest.repos.get({ owner: "acme", repo: "migtd" })
    .then(() => undefined, (failure: unknown) => toPublishError(failure, { repo: "acme/migtd", action: "read the repository", permission: "metadata: read" }));

  assert.ok(performance.now() - started < 5000, "the request ended well before 5 s");
  assert.equal((error as { code?: string }).code, "network");
  assert.match((error as Error).message, /no response from http:\/\/127\.0\.0\.1:\d+ \(no data from the server within 0\.3 s\)/);
});

test("client: a body that stops times out", async () => {
  // Headers and the first part of the JSON, then nothing.
  const apiUrl = await serve((response) => {
    response.writeHead(200, { "content-type": "application/json" });
    response.write('{"name": "mig');
  });

  await assert.rejects(client(apiUrl).rest.repos.get({ owner: "acme", repo: "migtd" }), /no data from the server within 0\.3 s/);
});

test("client: a slow but steady body succeeds", async () => {
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

test("client: a 204 response passes through", async () => {
  const apiUrl = await serve((response) => {
    response.writeHead(204);
    response.end();
  });

  const { status } = await client(apiUrl).rest.repos.deleteReleaseAsset({ owner: "acme", repo: "migtd", asset_id: 1 });

  assert.equal(status, 204);
});
