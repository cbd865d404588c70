// Checks HTTP requests and responses against GitHub's REST API description
// (@octokit/openapi, generated/api.github.com.json, OpenAPI 3.0.3), so the
// GitHub test double cannot drift from the real API. Schemas are checked
// with ajv, which supports OpenAPI 3.0's `nullable` keyword.
import { createRequire } from "node:module";
import { readFileSync } from "node:fs";
import { Ajv, type ErrorObject, type ValidateFunction } from "ajv";
import addFormatsModule from "ajv-formats";

const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv;

const SCHEMA_BASE = "https://api.github.com/openapi";

/** Statuses GitHub may send from any endpoint, checked against basic-error when an operation omits them. */
const GENERIC_ERROR_STATUSES = new Set([401, 403, 429, 500, 502, 503, 504]);

/** Where a request was sent: the REST API host, or the uploads host an operation's `servers` names. */
export type ServerRole = "api" | "uploads";

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

/** One operation of the description, with its path template. */
export interface Operation {
  operationId: string;
  method: string;
  template: string;
  server: ServerRole;
  spec: JsonObject;
  /** Path parameters of a matched request, percent-decoded. */
  pathParams: Record<string, string>;
}

/** What the validator needs to know about a request. */
export interface RequestFacts {
  query: URLSearchParams;
  contentType: string | undefined;
  contentLength: string | undefined;
  body: Buffer;
}

/** What the validator needs to know about a response. */
export interface ResponseFacts {
  status: number;
  contentType: string | undefined;
  location: string | undefined;
  body: unknown;
}

interface PathEntry {
  template: string;
  pattern: RegExp;
  names: string[];
  literalSegments: number;
  item: JsonObject;
}

/**
 * GitHub's REST API description, loaded once per process. Operations are
 * found by method and path, and their parameters, request bodies and
 * responses are checked with ajv against the description's schemas.
 */
export class GitHubApiDescription {
  private static instance: GitHubApiDescription | undefined;

  /** Returns the description, parsing the 13 MB file on first use. */
  static load(): GitHubApiDescription {
    GitHubApiDescription.instance ??= new GitHubApiDescription();
    return GitHubApiDescription.instance;
  }

  private readonly document: JsonObject;
  private readonly paths: PathEntry[];
  private readonly ajv: Ajv;
  private readonly validators = new Map<string, ValidateFunction>();

  private constructor() {
    const require = createRequire(import.meta.url);
    const file = require.resolve("@octokit/openapi/generated/api.github.com.json");
    this.document = JSON.parse(readFileSync(file, "utf8")) as JsonObject;
    this.paths = Object.entries(this.document.paths as JsonObject).map(([template, item]) =>
      compilePath(template, item as JsonObject),
    );
    this.ajv = createAjv();
    const components = this.document.components as JsonObject;
    this.ajv.addSchema({ $id: SCHEMA_BASE, $defs: rebaseRefs(components.schemas!) as JsonObject });
  }

  /** The description's version string, e.g. "1.1.4". */
  get version(): string {
    return String((this.document.info as JsonObject).version);
  }

  /**
   * Finds the operation for a method and raw (still percent-encoded) path.
   * When several templates match, the one with the most literal segments
   * wins, so /releases/tags/{tag} beats /releases/{release_id}.
   */
  findOperation(method: string, rawPath: string, server: ServerRole): Operation | undefined {
    const candidates = this.paths
      .map((entry) => ({ entry, match: entry.pattern.exec(rawPath) }))
      .filter(({ entry, match }) => match !== null && entry.item[method.toLowerCase()] !== undefined)
      .sort((a, b) => b.entry.literalSegments - a.entry.literalSegments);
    const best = candidates[0];
    if (best === undefined) return undefined;

    const spec = best.entry.item[method.toLowerCase()] as JsonObject;
    const pathParams = Object.fromEntries(
      best.entry.names.map((name, index) => [name, decodeURIComponent(best.match![index + 1]!)]),
    );
    return {
      operationId: String(spec.operationId),
      method: method.toUpperCase(),
      template: best.entry.template,
      server: spec.servers === undefined ? "api" : "uploads",
      spec,
      pathParams,
    };
  }

  /** Returns every way a request breaks the operation's description; empty when it conforms. */
  checkRequest(operation: Operation, server: ServerRole, request: RequestFacts): string[] {
    const problems: string[] = [];
    if (operation.server !== server) {
      problems.push(`sent to the ${server} host, but the description serves it from the ${operation.server} host`);
    }
    problems.push(...this.checkParameters(operation, request.query));
    problems.push(...this.checkRequestBody(operation, request));
    return problems.map((problem) => `${operation.operationId} request: ${problem}`);
  }

  /** Returns every way a response breaks the operation's description; empty when it conforms. */
  checkResponse(operation: Operation, response: ResponseFacts): string[] {
    const problems: string[] = [];
    const declared = this.declaredResponse(operation, response.status);

    if (declared === undefined) {
      problems.push(`status ${response.status} is not declared`);
    } else if (declared.schemaPointer !== undefined) {
      if (!isJson(response.contentType)) {
        problems.push(`content type ${response.contentType ?? "(none)"} is not application/json`);
      } else {
        problems.push(...this.validate(declared.schemaPointer, declared.schema, response.body, "body"));
      }
    }

    if (response.status >= 300 && response.status < 400 && !response.location) {
      problems.push(`redirect ${response.status} has no Location header`);
    }
    return problems.map((problem) => `${operation.operationId} response ${response.status}: ${problem}`);
  }

  /** Validates a value against a component schema such as "release"; for tests of the validator. */
  checkComponent(name: string, value: unknown): string[] {
    const pointer = `#/$defs/${name}`;
    return this.validate(pointer, { $ref: `${SCHEMA_BASE}${pointer}` }, value, name);
  }

  private checkParameters(operation: Operation, query: URLSearchParams): string[] {
    const problems: string[] = [];
    const parameters = (operation.spec.parameters as JsonObject[] | undefined ?? []).map((parameter) =>
      this.resolve(parameter),
    );

    for (const parameter of parameters) {
      const name = String(parameter.name);
      const where = String(parameter.in);
      const schema = parameter.schema as JsonObject;
      const pointer = `${operation.operationId}/parameters/${name}`;
      if (where === "path") {
        problems.push(...this.validate(pointer, schema, coerce(operation.pathParams[name]!, schema), `path parameter ${name}`));
      } else if (where === "query") {
        const value = query.get(name);
        if (value === null) {
          if (parameter.required === true) problems.push(`query parameter ${name} is required`);
        } else {
          problems.push(...this.validate(pointer, schema, coerce(value, schema), `query parameter ${name}`));
        }
      }
    }

    const declared = new Set(parameters.filter((parameter) => parameter.in === "query").map((parameter) => parameter.name));
    for (const name of query.keys()) {
      if (!declared.has(name)) problems.push(`query parameter ${name} is not declared`);
    }
    return problems;
  }

  private checkRequestBody(operation: Operation, request: RequestFacts): string[] {
    const requestBody = operation.spec.requestBody === undefined
      ? undefined
      : this.resolve(operation.spec.requestBody as JsonObject);
    if (requestBody === undefined) {
      return request.body.length === 0 ? [] : [`has a ${request.body.length}-byte body, but the operation takes none`];
    }
    if (request.body.length === 0) {
      return requestBody.required === true ? ["body is required"] : [];
    }

    const content = requestBody.content as JsonObject;
    const types = Object.keys(content);
    const binary = types.length === 1 && types[0] === "application/octet-stream";
    if (binary) {
      // The upload operation's text requires Content-Type to be the asset's
      // own media type and a Content-Length header, so any type is accepted.
      if (request.contentType === undefined) return ["Content-Type header is missing"];
      if (request.contentLength !== String(request.body.length)) {
        return [`Content-Length ${request.contentLength ?? "(none)"} does not match the ${request.body.length}-byte body`];
      }
      return [];
    }

    if (!isJson(request.contentType) || content["application/json"] === undefined) {
      return [`content type ${request.contentType ?? "(none)"} is not one of ${types.join(", ")}`];
    }
    let body: unknown;
    try {
      body = JSON.parse(request.body.toString("utf8"));
    } catch {
      return ["body is not valid JSON"];
    }
    const schema = (content["application/json"] as JsonObject).schema as JsonObject;
    return this.validate(`${operation.operationId}/requestBody`, schema, body, "body");
  }

  private declaredResponse(
    operation: Operation,
    status: number,
  ): { schemaPointer?: string; schema?: JsonObject } | undefined {
    const responses = operation.spec.responses as JsonObject;
    const entry = responses[String(status)] ?? responses.default;
    if (entry === undefined) {
      if (!GENERIC_ERROR_STATUSES.has(status)) return undefined;
      return { schemaPointer: "#/$defs/basic-error", schema: { $ref: `${SCHEMA_BASE}#/$defs/basic-error` } };
    }

    const response = this.resolve(entry as JsonObject);
    const json = (response.content as JsonObject | undefined)?.["application/json"] as JsonObject | undefined;
    if (json?.schema === undefined) return {};
    return { schemaPointer: `${operation.operationId}/responses/${status}`, schema: json.schema as JsonObject };
  }

  private validate(key: string, schema: JsonObject | undefined, value: unknown, what: string): string[] {
    if (schema === undefined) return [];
    let validator = this.validators.get(key);
    if (validator === undefined) {
      validator = this.ajv.compile(rebaseRefs(schema) as JsonObject);
      this.validators.set(key, validator);
    }
    if (validator(value)) return [];
    return (validator.errors ?? []).map((error) => `${what} ${formatError(error)}`);
  }

  /** Follows a local "#/components/..." $ref of a parameter, request body or response. */
  private resolve(node: JsonObject): JsonObject {
    const ref = node.$ref;
    if (typeof ref !== "string") return node;
    let target: Json = this.document;
    for (const part of ref.replace(/^#\//, "").split("/")) {
      target = (target as JsonObject)[part.replace(/~1/g, "/").replace(/~0/g, "~")]!;
    }
    return this.resolve(target as JsonObject);
  }
}

function compilePath(template: string, item: JsonObject): PathEntry {
  const names: string[] = [];
  let literalSegments = 0;
  const multiSegment = new Set(
    Object.values(item)
      .flatMap((operation) => ((operation as JsonObject).parameters as JsonObject[] | undefined) ?? [])
      .filter((parameter) => parameter["x-multi-segment"] === true)
      .map((parameter) => String(parameter.name)),
  );

  const source = template
    .split("/")
    .map((segment) => {
      const parameter = /^\{([^}]+)\}$/.exec(segment);
      if (parameter === null) {
        if (segment !== "") literalSegments += 1;
        return segment.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
      }
      names.push(parameter[1]!);
      // x-multi-segment parameters, such as a release tag, may contain '/'.
      return multiSegment.has(parameter[1]!) ? "(.+)" : "([^/]+)";
    })
    .join("/");
  return { template, pattern: new RegExp(`^${source}$`), names, literalSegments, item };
}

function createAjv(): Ajv {
  const ajv = new Ajv({ allErrors: true, strict: true, strictTypes: false });
  addFormats(ajv);
  // OpenAPI formats that JSON Schema does not define.
  ajv.addFormat("int64", { type: "number", validate: Number.isSafeInteger });
  ajv.addFormat("binary", true);
  // OpenAPI annotations and GitHub's extensions: no validation meaning.
  ajv.addKeyword("example");
  ajv.addKeyword("x-github-breaking-changes");
  ajv.addKeyword("x-multi-segment");
  return ajv;
}

/** Points the description's "#/components/schemas/NAME" refs at the $defs of the schema added to ajv. */
function rebaseRefs(node: Json): Json {
  if (Array.isArray(node)) return node.map(rebaseRefs);
  if (node === null || typeof node !== "object") return node;
  return Object.fromEntries(
    Object.entries(node).map(([key, value]) => {
      if (key === "$ref" && typeof value === "string") {
        return [key, value.replace(/^#\/components\/schemas\//, `${SCHEMA_BASE}#/$defs/`)];
      }
      if (key === "example" || key === "examples") return [key, value];
      return [key, rebaseRefs(value)];
    }),
  );
}

/** Turns a path or query string into the type its schema declares. */
function coerce(value: string, schema: JsonObject): unknown {
  if ((schema.type === "integer" || schema.type === "number") && /^-?\d+(\.\d+)?$/.test(value)) {
    return Number(value);
  }
  if (schema.type === "boolean" && (value === "true" || value === "false")) return value === "true";
  return value;
}

function isJson(contentType: string | undefined): boolean {
  return contentType !== undefined && /^application\/json\b/i.test(contentType.trim());
}

function formatError(error: ErrorObject): string {
  const at = error.instancePath === "" ? "" : ` at ${error.instancePath}`;
  return `${error.message ?? error.keyword}${at}`;
}
