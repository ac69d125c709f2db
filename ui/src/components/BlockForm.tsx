// The create and edit form of a block document, generated from its block schema.
//
// Secrets: the page only ever reads documents with their secrets masked, and a secret
// field starts empty. On edit, a secret left empty is sent back as `********`, which the
// server reads as "keep the stored value"; anything typed replaces it. A nested block is
// picked among the saved documents of its type and sent as a reference
// (`{"$ref": {"block_document_id": ...}}`).
import { type FormEvent, useMemo, useState } from "react";
import { api, type BlockDocument, type BlockSchema, type BlockType, SECRET_MASK } from "../api";
import { usePoll } from "../hooks";
import { FieldInput } from "./FieldInput";
import { type Field, fieldsOf, initialText, parseField } from "./schemaForm";

/** Which a block field holds when editing: a saved document's id, or "" for none. */
const KEEP_INLINE = "keep-inline";

function startText(field: Field, document: BlockDocument | undefined): string {
  if (field.kind === "secret") return "";
  if (field.kind === "block") {
    if (!document) return "";
    const reference = document.block_document_references[field.name];
    if (reference) return reference.block_document.id;
    return document.data[field.name] != null ? KEEP_INLINE : "";
  }
  return initialText(field, document?.data ?? {});
}

function hasStoredSecret(document: BlockDocument | undefined, name: string): boolean {
  return document !== undefined && document.data[name] === SECRET_MASK;
}

export function BlockForm(props: {
  blockType: BlockType;
  schema: BlockSchema;
  document?: BlockDocument;
  onSaved: (id: string) => void;
  onCancel: () => void;
}) {
  const { blockType, schema, document } = props;
  const editing = document !== undefined;
  const fields = useMemo(() => fieldsOf(schema.fields), [schema.fields]);
  const [name, setName] = useState(document?.name ?? "");
  const [texts, setTexts] = useState<Record<string, string>>(
    () => Object.fromEntries(fields.map((field) => [field.name, startText(field, document)])),
  );
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [serverError, setServerError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const collect = (): { data: Record<string, unknown>; found: Record<string, string> } => {
    const data: Record<string, unknown> = {};
    const found: Record<string, string> = {};
    for (const field of fields) {
      const text = texts[field.name] ?? "";
      if (field.kind === "block") {
        if (text === KEEP_INLINE) continue; // left out: the stored value stays
        if (text) data[field.name] = { $ref: { block_document_id: text } };
        else if (field.required) found[field.name] = `${field.title} is required`;
        else if (editing) data[field.name] = null;
        continue;
      }
      if (field.kind === "secret" && text === "" && hasStoredSecret(document, field.name)) {
        data[field.name] = SECRET_MASK; // the server keeps the stored secret
        continue;
      }
      const parsed = parseField(field, text);
      if (!parsed.ok) found[field.name] = `${field.title} ${parsed.error}`;
      else if (parsed.present) data[field.name] = parsed.value;
      else if (editing && field.nullable) data[field.name] = null; // cleared
    }
    return { data, found };
  };

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    const { data, found } = collect();
    setErrors(found);
    if (Object.keys(found).length) return;
    setBusy(true);
    setServerError(null);
    try {
      if (document) {
        await api.patch(`/block_documents/${document.id}`, { data });
        props.onSaved(document.id);
      } else {
        const created = await api.post<BlockDocument>("/block_documents/", {
          name: name.trim(), block_type_id: blockType.id, block_schema_id: schema.id, data,
        });
        props.onSaved(created.id);
      }
    } catch (caught) {
      setServerError(caught instanceof Error ? caught.message : String(caught));
    } finally {
      setBusy(false);
    }
  };

  return (
    <form className="run-form" onSubmit={submit} aria-label={editing ? "Edit block" : "Create block"} noValidate>
      {editing ? null : (
        <div className="field">
          <label htmlFor="block-name">Name * <span className="muted">lowercase letters, numbers and dashes</span></label>
          <input id="block-name" name="name" value={name} onChange={(event) => setName(event.target.value)} />
        </div>
      )}
      {fields.length === 0 ? <p className="muted">This block type has no fields.</p> : null}
      {fields.map((field) => {
        const change = (text: string) => setTexts((current) => ({ ...current, [field.name]: text }));
        const text = texts[field.name] ?? "";
        if (field.kind === "block") {
          return (
            <FieldInput key={field.name} field={field} text={text} error={errors[field.name]} onChange={change} idPrefix="field-">
              <DocumentPicker field={field} value={text} onChange={change} />
            </FieldInput>
          );
        }
        const placeholder = field.kind === "secret" && hasStoredSecret(document, field.name)
          ? "stored: leave empty to keep it" : undefined;
        return (
          <FieldInput key={field.name} field={field} text={text} error={errors[field.name]} onChange={change}
            idPrefix="field-" placeholder={placeholder} />
        );
      })}
      {serverError ? <div className="error" role="alert" data-testid="form-error">{serverError}</div> : null}
      <div className="form-actions">
        <button type="submit" disabled={busy}>{editing ? "Save" : "Create"}</button>
        <button type="button" onClick={props.onCancel}>Cancel</button>
      </div>
    </form>
  );
}

/** A select of the saved documents of the field's block type. */
function DocumentPicker(props: { field: Field; value: string; onChange: (value: string) => void }) {
  const slug = props.field.blockTypeSlug ?? "";
  const documents = usePoll(
    () => api.get<BlockDocument[]>(`/block_types/slug/${encodeURIComponent(slug)}/block_documents`),
    [slug], null,
  );
  const options = documents.data ?? [];
  return (
    <>
      <select id={`field-${props.field.name}`} name={props.field.name} value={props.value}
        onChange={(event) => props.onChange(event.target.value)}>
        <option value="">{props.field.required ? "— pick a saved block —" : "— none —"}</option>
        {props.value === KEEP_INLINE ? <option value={KEEP_INLINE}>(saved inline: keep it)</option> : null}
        {options.map((document) => (
          <option key={document.id} value={document.id}>{document.name ?? document.id}</option>
        ))}
      </select>
      <div className="muted">
        a saved <code>{slug}</code> block
        {documents.data !== undefined && options.length === 0 ? ": none saved yet" : null}
        {documents.error ? `: could not load them (${documents.error.message})` : null}
      </div>
    </>
  );
}
