import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { attestationStatements } from "../../attest/sign.js";
import { packagePath } from "../../config/package-root.js";
import { makeBuildRecord, makeFixture } from "./attestation-fixture.js";

// Field names come from the in-toto project's .proto files (see the
// fixture's README), read with a small parser of proto3 message bodies.

interface ProtoField {
  jsonName: string;
  type: string;
  repeated: boolean;
  map: boolean;
}

const FIXTURE = packagePath("test", "fixtures", "in-toto-attestation-protos");
const FIELD = /^\s*(repeated\s+)?(map<[^>]+>|[\w.]+)\s+(\w+)\s*=\s*\d+\s*(\[json_name\s*=\s*"([^"]+)"\])?;/;

function readMessages(...files: string[]): Map<string, ProtoField[]> {
  const messages = new Map<string, ProtoField[]>();
  for (const file of files) {
    const text = readFileSync(`${FIXTURE}/${file}`, "utf8").replace(/\/\/.*$/gm, "");
    for (const [, name, body] of text.matchAll(/message\s+(\w+)\s*\{([^}]*)\}/g)) {
      const fields = body!.split("\n").flatMap((line) => {
        const match = FIELD.exec(line);
        if (match === null) return [];
        const [, repeated, type, field, , jsonName] = match;
        const camel = field!.replace(/_([a-z])/g, (_, letter: string) => letter.toUpperCase());
        return [{ jsonName: jsonName ?? camel, type: type!.split(".").at(-1)!, repeated: repeated !== undefined, map: type!.startsWith("map<") }];
      });
      messages.set(name!, fields);
    }
  }
  return messages;
}

const MESSAGES = readMessages("statement.proto", "resource_descriptor.proto", "provenance.proto");
const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;

/** Lists every path in `value` that the message type does not define. */
function unknownFields(value: unknown, message: string, path: string): string[] {
  const fields = MESSAGES.get(message);
  assert.ok(fields, `message ${message} is defined`);
  assert.equal(typeof value, "object", `${path} is an object`);

  return Object.entries(value as Record<string, unknown>).flatMap(([key, child]) => {
    const field = fields.find((candidate) => candidate.jsonName === key);
    if (field === undefined) return [`${path}.${key}`];
    if (field.type === "Timestamp") {
      assert.match(String(child), RFC3339, `${path}.${key} is an RFC 3339 time`);
      return [];
    }
    if (field.map || !MESSAGES.has(field.type)) return [];
    const items = field.repeated ? (child as unknown[]) : [child];
    return items.flatMap((item, index) => unknownFields(item, field.type, `${path}.${key}${field.repeated ? `[${index}]` : ""}`));
  });
}

const fixture = makeFixture(256 * 1024);
const statements = attestationStatements(makeBuildRecord(fixture), {
  sha256: createHash("sha256").update(fixture.image).digest("hex"),
  sha384: createHash("sha384").update(fixture.image).digest("hex"),
});

test("statement proto: parser reads the fixtures", () => {
  assert.deepEqual(MESSAGES.get("Statement")!.map((field) => field.jsonName), ["_type", "subject", "predicateType", "predicate"]);
  assert.deepEqual(MESSAGES.get("BuildMetadata")!.map((field) => field.jsonName), ["invocationId", "startedOn", "finishedOn"]);
});

test("statement proto: every statement uses Statement fields", () => {
  for (const statement of statements) {
    assert.deepEqual(unknownFields(JSON.parse(JSON.stringify(statement)), "Statement", "statement"), []);
  }
});

test("statement proto: provenance uses Provenance fields", () => {
  const provenance = statements.find((statement) => statement.predicateType === "https://slsa.dev/provenance/v1")!;
  const predicate = JSON.parse(JSON.stringify(provenance.predicate));

  assert.deepEqual(unknownFields(predicate, "Provenance", "predicate"), []);
  assert.ok(predicate.buildDefinition.resolvedDependencies.length > 0);
});

test("statement proto: unknown field is detected", () => {
  const bad = { buildDefinition: { buildType: "x", resolved_dependencies: [] }, runDetails: { builder: { id: "x", builderid: "y" } } };

  assert.deepEqual(unknownFields(bad, "Provenance", "predicate"), [
    "predicate.buildDefinition.resolved_dependencies",
    "predicate.runDetails.builder.builderid",
  ]);
});
