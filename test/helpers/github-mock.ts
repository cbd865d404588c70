// A GitHub test double on 127.0.0.1: the release endpoints migtd-repro
// calls on the REST API host, the upload host that upload_url names, and a
// storage host that asset downloads redirect to. Every API request and
// response is checked against GitHub's REST API description
// (github-openapi.ts). Each mismatch is recorded in `violations`, and a
// request that does not conform gets a 400 response.
import { randomBytes } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { GitHubApiDescription, type Operation, type ServerRole } from "./github-openapi.js";
import {
  assetJson,
  errorJson,
  MOCK_TIMESTAMP,
  releaseJson,
  type MockAsset,
  type MockOrigins,
  type MockRelease,
  type MockRepository,
} from "./github-mock-resources.js";

/** A failure the double returns instead of the normal response. */
export type Fault =
  | { kind: "status"; status: number }
  | { kind: "rate-limit"; resetInSeconds: number }
  | { kind: "secondary-rate-limit"; retryAfterSeconds: number }
  /** Uploads only: read this many body bytes, keep an "open" asset, then drop the connection. */
  | { kind: "drop-upload"; afterBytes: number };

export interface FaultRule {
  /** Operation ID in GitHub's description, e.g. "repos/upload-release-asset". */
  operationId: string;
  fault: Fault;
  /** Only uploads of this asset name. */
  assetName?: string;
  /** How many matching requests fail; default 1. */
  times?: number;
}

/** One request the double received. */
export interface LoggedRequest {
  server: ServerRole | "objects";
  method: string;
  path: string;
  operationId?: string;
  status: number;
  /** Whether the request carried an Authorization header. */
  authorized: boolean;
}

export type TokenAccess = "write" | "read";

interface Reply {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

interface Caller {
  access: TokenAccess | "anonymous";
}

/** Rewrites a response body before it is checked and sent; tests use it to simulate drift. */
export type ResponseRewriter = (operationId: string, status: number, body: unknown) => unknown;

export class GitHubMock {
  readonly violations: string[] = [];
  readonly log: LoggedRequest[] = [];
  readonly repositories: MockRepository[] = [];
  /** Applied to every JSON response body before it is checked and sent. */
  rewriteResponse: ResponseRewriter | undefined;
  /** Whether new uploads get a `digest`; false emulates assets from before GitHub computed them. */
  recordDigests = true;
  /** Downloads from the storage host that send half the bytes and then drop the connection. */
  droppedDownloads = 0;

  private readonly description = GitHubApiDescription.load();
  private readonly tokens = new Map<string, TokenAccess>();
  private readonly faults: Array<FaultRule & { remaining: number }> = [];
  private readonly servers: Server[] = [];
  private nextId = 1000;
  origins!: MockOrigins;

  /** Starts the three servers on random 127.0.0.1 ports. */
  static async start(): Promise<GitHubMock> {
    const mock = new GitHubMock();
    const [api, uploads, objects] = await Promise.all([
      mock.listen((request, response) => mock.handleApi("api", request, response)),
      mock.listen((request, response) => mock.handleApi("uploads", request, response)),
      mock.listen((request, response) => mock.handleObjects(request, response)),
    ]);
    mock.origins = { api, uploads, objects };
    return mock;
  }

  async close(): Promise<void> {
    await Promise.all(
      this.servers.map(
        (server) =>
          new Promise<void>((resolve) => {
            server.closeAllConnections();
            server.close(() => resolve());
          }),
      ),
    );
  }

  /** Accepts a token with read or write access to every repository. */
  addToken(access: TokenAccess): string {
    const token = `ghs_${randomBytes(18).toString("hex")}`;
    this.tokens.set(token, access);
    return token;
  }

  addRepository(fullName: string, options: { private?: boolean } = {}): MockRepository {
    const [owner, name] = fullName.split("/") as [string, string];
    const repository = { id: this.id(), owner, name, private: options.private ?? false, releases: [] };
    this.repositories.push(repository);
    return repository;
  }

  addRelease(
    repository: MockRepository,
    tag: string,
    options: { draft?: boolean; immutable?: boolean } = {},
  ): MockRelease {
    const release: MockRelease = {
      id: this.id(),
      tag,
      name: tag,
      draft: options.draft ?? false,
      immutable: options.immutable ?? false,
      createdAt: MOCK_TIMESTAMP,
      assets: [],
    };
    repository.releases.push(release);
    return release;
  }

  addAsset(
    release: MockRelease,
    name: string,
    content: Buffer,
    options: { state?: MockAsset["state"]; digestKnown?: boolean; contentType?: string } = {},
  ): MockAsset {
    const asset: MockAsset = {
      id: this.id(),
      name,
      label: null,
      contentType: options.contentType ?? "application/octet-stream",
      state: options.state ?? "uploaded",
      content,
      digestKnown: options.digestKnown ?? true,
      createdAt: MOCK_TIMESTAMP,
    };
    release.assets.push(asset);
    return asset;
  }

  /** Makes the next matching requests fail. */
  inject(rule: FaultRule): void {
    this.faults.push({ ...rule, remaining: rule.times ?? 1 });
  }

  /** Requests that reached an operation, by operation ID. */
  count(operationId: string): number {
    return this.log.filter((entry) => entry.operationId === operationId).length;
  }

  private id(): number {
    this.nextId += 1;
    return this.nextId;
  }

  private async listen(handler: (request: IncomingMessage, response: ServerResponse) => Promise<void>): Promise<string> {
    const server = createServer((request, response) => {
      handler(request, response).catch((error: unknown) => {
        this.violations.push(`double failed on ${request.method} ${request.url}: ${String(error)}`);
        if (!response.headersSent) response.writeHead(500).end();
      });
    });
    this.servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  private async handleApi(server: ServerRole, request: IncomingMessage, response: ServerResponse): Promise<void> {
    const url = new URL(request.url ?? "/", "http://127.0.0.1");
    const method = request.method ?? "GET";
    const operation = this.description.findOperation(method, url.pathname, server);
    const entry: LoggedRequest = {
      server,
      method,
      path: url.pathname + url.search,
      operationId: operation?.operationId,
      status: 0,
      authorized: request.headers.authorization !== undefined,
    };
    this.log.push(entry);

    if (operation === undefined) {
      this.violations.push(`${method} ${url.pathname} on the ${server} host matches no operation of the description`);
      entry.status = 404;
      this.send(response, undefined, { status: 404, body: errorJson(404, "Not Found") });
      return;
    }

    const fault = this.takeFault(operation, url);
    if (fault?.kind === "drop-upload") {
      await this.dropUpload(request, response, operation, url, fault.afterBytes);
      entry.status = 0;
      return;
    }

    const body = await readBody(request);
    const problems = this.description.checkRequest(operation, server, {
      query: url.searchParams,
      contentType: request.headers["content-type"],
      contentLength: request.headers["content-length"],
      body,
    });
    if (problems.length > 0) {
      this.violations.push(...problems);
      entry.status = 400;
      this.send(response, undefined, { status: 400, body: errorJson(400, `double: ${problems.join("; ")}`) });
      return;
    }

    const reply = fault !== undefined
      ? faultReply(fault)
      : this.route(operation, url, request, body);
    entry.status = reply.status;
    this.send(response, operation, reply);
  }

  private send(response: ServerResponse, operation: Operation | undefined, reply: Reply): void {
    let body = reply.body;
    if (operation !== undefined && body !== undefined && this.rewriteResponse !== undefined) {
      body = this.rewriteResponse(operation.operationId, reply.status, body);
    }
    const headers: Record<string, string> = { ...reply.headers };
    if (body !== undefined) headers["content-type"] = "application/json; charset=utf-8";

    if (operation !== undefined) {
      this.violations.push(
        ...this.description.checkResponse(operation, {
          status: reply.status,
          contentType: headers["content-type"],
          location: headers.location,
          body,
        }),
      );
    }
    response.writeHead(reply.status, headers);
    response.end(body === undefined ? undefined : JSON.stringify(body));
  }

  private takeFault(operation: Operation, url: URL): Fault | undefined {
    const rule = this.faults.find(
      (candidate) =>
        candidate.remaining > 0 &&
        candidate.operationId === operation.operationId &&
        (candidate.assetName === undefined || candidate.assetName === url.searchParams.get("name")),
    );
    if (rule === undefined) return undefined;
    rule.remaining -= 1;
    return rule.fault;
  }

  /** Emulates a connection lost mid-upload: GitHub keeps an incomplete asset of that name. */
  private async dropUpload(
    request: IncomingMessage,
    response: ServerResponse,
    operation: Operation,
    url: URL,
    afterBytes: number,
  ): Promise<void> {
    const release = this.releaseById(operation.pathParams.release_id);
    const received: Buffer[] = [];
    let size = 0;
    for await (const chunk of request) {
      received.push(chunk as Buffer);
      size += (chunk as Buffer).length;
      if (size >= afterBytes) break;
    }
    if (release !== undefined) {
      this.addAsset(release.release, url.searchParams.get("name") ?? "", Buffer.concat(received).subarray(0, afterBytes), {
        state: "open",
        contentType: request.headers["content-type"],
      });
    }
    response.socket?.destroy();
  }

  private route(operation: Operation, url: URL, request: IncomingMessage, body: Buffer): Reply {
    const caller = this.caller(request);
    if ("status" in caller) return caller;

    const { owner, repo } = operation.pathParams;
    const repository = this.repositories.find((candidate) => candidate.owner === owner && candidate.name === repo);
    if (repository === undefined || (repository.private && caller.access === "anonymous")) {
      return { status: 404, body: errorJson(404, "Not Found") };
    }

    const writes = operation.method !== "GET";
    if (writes && caller.access === "anonymous") {
      return { status: 401, body: errorJson(401, "Requires authentication") };
    }
    if (writes && caller.access === "read") {
      return { status: 403, body: errorJson(403, "Resource not accessible by personal access token") };
    }

    const handlers: Record<string, () => Reply> = {
      "repos/get-release-by-tag": () => this.getReleaseByTag(repository, operation.pathParams.tag!),
      "repos/list-releases": () => this.listReleases(repository, url, caller),
      "repos/create-release": () => this.createRelease(repository, JSON.parse(body.toString("utf8"))),
      "repos/list-release-assets": () => this.listAssets(repository, operation, url),
      "repos/upload-release-asset": () => this.uploadAsset(repository, operation, url, request, body),
      "repos/delete-release-asset": () => this.deleteAsset(repository, operation),
      "repos/get-release-asset": () => this.getAsset(repository, operation, request),
    };
    const handler = handlers[operation.operationId];
    if (handler === undefined) {
      this.violations.push(`double has no handler for ${operation.operationId}`);
      return { status: 404, body: errorJson(404, "Not Found") };
    }
    return handler();
  }

  /** Resolves the Authorization header; a token the double did not issue gets 401. */
  private caller(request: IncomingMessage): Caller | Reply {
    const header = request.headers.authorization;
    if (header === undefined) return { access: "anonymous" };
    const token = /^(?:token|bearer)\s+(\S+)$/i.exec(header)?.[1];
    const access = token === undefined ? undefined : this.tokens.get(token);
    if (access === undefined) return { status: 401, body: errorJson(401, "Bad credentials") };
    return { access };
  }

  private getReleaseByTag(repository: MockRepository, tag: string): Reply {
    // GitHub: "Get a published release with the specified tag".
    const release = repository.releases.find((candidate) => candidate.tag === tag && !candidate.draft);
    if (release === undefined) return { status: 404, body: errorJson(404, "Not Found") };
    return { status: 200, body: releaseJson(this.origins, repository, release) };
  }

  private listReleases(repository: MockRepository, url: URL, caller: Caller): Reply {
    // Only callers with push access see draft releases.
    const visible = repository.releases.filter((release) => !release.draft || caller.access === "write");
    const items = visible.map((release) => releaseJson(this.origins, repository, release));
    return this.page(items, url);
  }

  private createRelease(repository: MockRepository, input: { tag_name: string; name?: string; draft?: boolean }): Reply {
    if (repository.releases.some((release) => release.tag === input.tag_name)) {
      return {
        status: 422,
        body: errorJson(422, "Validation Failed", [{ resource: "Release", code: "already_exists", field: "tag_name" }]),
      };
    }
    const release = this.addRelease(repository, input.tag_name, { draft: input.draft ?? false });
    release.name = input.name ?? null;
    const json = releaseJson(this.origins, repository, release);
    return { status: 201, body: json, headers: { location: String(json.url) } };
  }

  private listAssets(repository: MockRepository, operation: Operation, url: URL): Reply {
    const release = repository.releases.find((candidate) => String(candidate.id) === operation.pathParams.release_id);
    const items = (release?.assets ?? []).map((asset) => assetJson(this.origins, repository, release!, asset));
    return this.page(items, url);
  }

  private uploadAsset(
    repository: MockRepository,
    operation: Operation,
    url: URL,
    request: IncomingMessage,
    body: Buffer,
  ): Reply {
    const release = repository.releases.find((candidate) => String(candidate.id) === operation.pathParams.release_id);
    if (release === undefined) return { status: 404, body: errorJson(404, "Not Found") };
    const name = url.searchParams.get("name")!;
    if (release.assets.some((asset) => asset.name === name)) {
      return {
        status: 422,
        body: errorJson(422, "Validation Failed", [{ resource: "ReleaseAsset", code: "already_exists", field: "name" }]),
      };
    }
    const asset = this.addAsset(release, name, body, {
      contentType: request.headers["content-type"],
      digestKnown: this.recordDigests,
    });
    return { status: 201, body: assetJson(this.origins, repository, release, asset) };
  }

  private deleteAsset(repository: MockRepository, operation: Operation): Reply {
    for (const release of repository.releases) {
      const index = release.assets.findIndex((asset) => String(asset.id) === operation.pathParams.asset_id);
      if (index >= 0) {
        release.assets.splice(index, 1);
        return { status: 204 };
      }
    }
    return { status: 404, body: errorJson(404, "Not Found") };
  }

  private getAsset(repository: MockRepository, operation: Operation, request: IncomingMessage): Reply {
    const found = this.assetById(repository, operation.pathParams.asset_id);
    if (found === undefined) return { status: 404, body: errorJson(404, "Not Found") };
    if (!/application\/octet-stream/.test(request.headers.accept ?? "")) {
      return { status: 200, body: assetJson(this.origins, repository, found.release, found.asset) };
    }
    // GitHub responds with a redirect to a short-lived signed URL on its storage host.
    const signature = randomBytes(8).toString("hex");
    return { status: 302, headers: { location: `${this.origins.objects}/assets/${found.asset.id}?sig=${signature}` } };
  }

  private async handleObjects(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const url = new URL(request.url ?? "/", "http://127.0.0.1");
    const id = /^\/assets\/(\d+)$/.exec(url.pathname)?.[1];
    const asset = this.repositories
      .flatMap((repository) => repository.releases.flatMap((release) => release.assets))
      .find((candidate) => String(candidate.id) === id);
    const status = asset === undefined || request.method !== "GET" ? 404 : 200;
    this.log.push({
      server: "objects",
      method: request.method ?? "GET",
      path: url.pathname,
      status,
      authorized: request.headers.authorization !== undefined,
    });
    if (asset === undefined || status !== 200) {
      response.writeHead(404).end();
      return;
    }
    response.writeHead(200, { "content-type": "application/octet-stream", "content-length": String(asset.content.length) });
    if (this.droppedDownloads > 0) {
      this.droppedDownloads -= 1;
      response.write(asset.content.subarray(0, asset.content.length >> 1), () => response.socket?.destroy());
      return;
    }
    response.end(asset.content);
  }

  /** Pages a list with per_page and page, and a Link header as GitHub sends. */
  private page(items: unknown[], url: URL): Reply {
    const perPage = Number(url.searchParams.get("per_page") ?? 30);
    const page = Number(url.searchParams.get("page") ?? 1);
    const slice = items.slice((page - 1) * perPage, page * perPage);
    const headers: Record<string, string> = {};
    if (page * perPage < items.length) {
      const next = new URL(url.pathname, this.origins.api);
      next.searchParams.set("per_page", String(perPage));
      next.searchParams.set("page", String(page + 1));
      headers.link = `<${next.href}>; rel="next"`;
    }
    return { status: 200, body: slice, headers };
  }

  private releaseById(id: string | undefined): { repository: MockRepository; release: MockRelease } | undefined {
    for (const repository of this.repositories) {
      const release = repository.releases.find((candidate) => String(candidate.id) === id);
      if (release !== undefined) return { repository, release };
    }
    return undefined;
  }

  private assetById(repository: MockRepository, id: string | undefined): { release: MockRelease; asset: MockAsset } | undefined {
    for (const release of repository.releases) {
      const asset = release.assets.find((candidate) => String(candidate.id) === id);
      if (asset !== undefined) return { release, asset };
    }
    return undefined;
  }
}

function faultReply(fault: Exclude<Fault, { kind: "drop-upload" }>): Reply {
  switch (fault.kind) {
    case "status":
      return { status: fault.status, body: errorJson(fault.status, "Server Error") };
    case "rate-limit": {
      const reset = Math.floor(Date.now() / 1000) + fault.resetInSeconds;
      return {
        status: 403,
        body: errorJson(403, "API rate limit exceeded for installation ID 1."),
        headers: {
          "x-ratelimit-limit": "5000",
          "x-ratelimit-remaining": "0",
          "x-ratelimit-used": "5000",
          "x-ratelimit-reset": String(reset),
          "x-ratelimit-resource": "core",
        },
      };
    }
    case "secondary-rate-limit":
      return {
        status: 403,
        body: errorJson(403, "You have exceeded a secondary rate limit. Please wait a few minutes before you try again."),
        headers: { "retry-after": String(fault.retryAfterSeconds) },
      };
  }
}

async function readBody(request: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}
