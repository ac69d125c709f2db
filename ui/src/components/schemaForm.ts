// Turning a JSON schema (a deployment's parameters, a block type's fields) into form
// fields, and the fields' text back into validated JSON values. Validation happens here,
// before anything is sent; the server validates again. A secret (`format: password`,
// `writeOnly`, or named in a block schema's `secret_fields`) is a "secret" field, shown
// as a password input; a nested block (a definition with a `block_type_slug`) is a
// "block" field, picked among the saved documents of that type.
import type { JsonSchema } from "../api";

export type FieldKind =
  | "string" | "integer" | "number" | "boolean" | "enum" | "json" | "secret" | "block";

export interface Field {
  name: string;
  title: string;
  description?: string;
  kind: FieldKind;
  required: boolean;
  nullable: boolean;
  schema: JsonSchema;
  options?: unknown[];
  /** For a "block" field: the slug of the block type it holds. */
  blockTypeSlug?: string;
}

function resolve(schema: JsonSchema, root: JsonSchema): JsonSchema {
  const ref = schema.$ref;
  if (!ref) return schema;
  const name = ref.split("/").pop() ?? "";
  return { ...(root.$defs?.[name] ?? root.definitions?.[name] ?? {}), ...schema, $ref: undefined };
}

function typesOf(schema: JsonSchema): string[] {
  if (Array.isArray(schema.type)) return schema.type;
  return schema.type ? [schema.type] : [];
}

export function fieldsOf(root: JsonSchema | null): Field[] {
  if (!root?.properties) return [];
  const required = new Set(root.required ?? []);
  // top-level secret paths only: `headers.*` stays a JSON field holding masked values
  const secrets = new Set((root.secret_fields ?? []).filter((path) => !path.includes(".")));
  return Object.entries(root.properties).map(([name, raw]) => {
    let schema = resolve(raw, root);
    let nullable = false;
    if (schema.anyOf) {
      const options = schema.anyOf.map((option) => resolve(option, root));
      nullable = options.some((option) => option.type === "null");
      const real = options.filter((option) => option.type !== "null");
      if (real.length === 1) schema = { ...real[0], title: schema.title, description: schema.description, default: schema.default };
    }
    // a list of models: its items' $ref points at the root's definitions, as its own does
    if (schema.items) schema = { ...schema, items: resolve(schema.items, root) };
    const types = typesOf(schema).filter((type) => type !== "null");
    nullable ||= typesOf(schema).includes("null");
    let kind: FieldKind = "json";
    if (schema.block_type_slug) kind = "block";
    else if (schema.format === "password" || schema.writeOnly || secrets.has(name)) kind = "secret";
    else if (schema.enum) kind = "enum";
    else if (types.length === 1 && ["string", "integer", "number", "boolean"].includes(types[0])) {
      kind = types[0] as FieldKind;
    }
    return {
      name, title: schema.title ?? name, description: schema.description, kind,
      required: required.has(name), nullable, schema, options: schema.enum,
      blockTypeSlug: kind === "block" ? schema.block_type_slug : undefined,
    };
  });
}

/** The text a field starts with: the deployment's default, else the schema's. */
export function initialText(field: Field, defaults: Record<string, unknown>): string {
  const value = field.name in defaults ? defaults[field.name] : field.schema.default;
  if (value === undefined || value === null) return field.kind === "boolean" ? "false" : "";
  if (field.kind === "json" || field.kind === "enum" || field.kind === "block") return JSON.stringify(value);
  return String(value);
}

export type Parsed = { ok: true; value: unknown; present: boolean } | { ok: false; error: string };

/** One field's text as a JSON value, or why it is not valid. */
export function parseField(field: Field, text: string): Parsed {
  const trimmed = text.trim();
  const textual = field.kind === "string" || field.kind === "secret";
  if (trimmed === "" && !textual) {
    if (field.required && !field.nullable) return { ok: false, error: "is required" };
    return { ok: true, value: undefined, present: false };
  }
  if (trimmed === "" && field.kind === "secret" && !field.required) {
    return { ok: true, value: undefined, present: false };
  }
  if (trimmed === "" && textual && field.required && field.schema.default === undefined) {
    return { ok: false, error: "is required" };
  }
  const schema = field.schema;
  switch (field.kind) {
    case "boolean":
      return { ok: true, value: text === "true", present: true };
    case "integer":
    case "number": {
      const value = Number(trimmed);
      if (!Number.isFinite(value)) return { ok: false, error: "must be a number" };
      if (field.kind === "integer" && !Number.isInteger(value)) return { ok: false, error: "must be a whole number" };
      if (schema.minimum !== undefined && value < schema.minimum) return { ok: false, error: `must be at least ${schema.minimum}` };
      if (schema.maximum !== undefined && value > schema.maximum) return { ok: false, error: `must be at most ${schema.maximum}` };
      return { ok: true, value, present: true };
    }
    case "secret":
    case "string": {
      if (schema.minLength !== undefined && text.length < schema.minLength) return { ok: false, error: `must have at least ${schema.minLength} characters` };
      if (schema.maxLength !== undefined && text.length > schema.maxLength) return { ok: false, error: `must have at most ${schema.maxLength} characters` };
      return { ok: true, value: text, present: true };
    }
    case "enum": {
      let value: unknown;
      try { value = JSON.parse(trimmed); } catch { return { ok: false, error: "pick one of the options" }; }
      if (!field.options?.some((option) => JSON.stringify(option) === JSON.stringify(value))) {
        return { ok: false, error: "pick one of the options" };
      }
      return { ok: true, value, present: true };
    }
    default: {
      let value: unknown;
      try { value = JSON.parse(trimmed); } catch { return { ok: false, error: "is not valid JSON" }; }
      const types = typesOf(schema);
      if (types.length && !types.some((type) => matches(type, value))) {
        return { ok: false, error: `must be ${types.join(" or ")}` };
      }
      if (types.includes("array") && Array.isArray(value) && schema.items) {
        const itemTypes = typesOf(schema.items);
        const bad = value.findIndex((item) => itemTypes.length > 0 && !itemTypes.some((type) => matches(type, item)));
        if (bad >= 0) return { ok: false, error: `item ${bad} must be ${itemTypes.join(" or ")}` };
      }
      return { ok: true, value, present: true };
    }
  }
}

function matches(type: string, value: unknown): boolean {
  switch (type) {
    case "array": return Array.isArray(value);
    case "object": return typeof value === "object" && value !== null && !Array.isArray(value);
    case "string": return typeof value === "string";
    case "integer": return Number.isInteger(value);
    case "number": return typeof value === "number";
    case "boolean": return typeof value === "boolean";
    case "null": return value === null;
    default: return true;
  }
}
