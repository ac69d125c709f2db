// Blocks: the block types (description, capabilities) and the saved documents, a
// document's page (secrets shown as ********), its create and edit forms and delete.
// Documents are only ever read with their secrets masked: no secret reaches this page.
import { useState } from "react";
import { api, ApiError, type BlockDocument, type BlockSchema, type BlockType, SECRET_MASK } from "../api";
import { BlockForm } from "../components/BlockForm";
import { Card, countText, Empty, ErrorNote, JsonView, Pending } from "../components/common";
import { fieldsOf } from "../components/schemaForm";
import { formatTime, relative } from "../format";
import { usePoll } from "../hooks";
import { Link, navigate, useLocation } from "../router";

function unavailable(error: Error | undefined): boolean {
  return error instanceof ApiError && (error.status === 404 || error.status === 405);
}

/** The newest schema of each block type (the server lists schemas newest first). */
function newestSchemas(schemas: BlockSchema[] | undefined): Map<string, BlockSchema> {
  const newest = new Map<string, BlockSchema>();
  for (const schema of schemas ?? []) {
    if (!newest.has(schema.block_type_id)) newest.set(schema.block_type_id, schema);
  }
  return newest;
}

/** A docstring's paragraphs, each on one line (its hard wraps undone). */
function unwrap(text: string): string {
  return text.split(/\n\s*\n/).map((part) => part.replace(/\s*\n\s*/g, " ").trim()).join("\n\n");
}

function firstLine(text: string | null): string {
  return (text ?? "").split("\n\n")[0].replace(/\s+/g, " ").trim();
}

function Capabilities(props: { schema: BlockSchema | undefined }) {
  const capabilities = props.schema?.capabilities ?? [];
  if (capabilities.length === 0) return <span className="muted">—</span>;
  return <span className="tags">{capabilities.map((c) => <span key={c} className="tag">{c}</span>)}</span>;
}

export function BlocksPage() {
  const { query } = useLocation();
  const typeSlug = query.get("type") ?? "";
  const types = usePoll(() => api.post<BlockType[]>("/block_types/filter", { limit: 200 }), [], 2000);
  const schemas = usePoll(() => api.post<BlockSchema[]>("/block_schemas/filter", { limit: 200 }), [], 2000);
  const filter = typeSlug ? { block_types: { slug: { any_: [typeSlug] } } } : {};
  const documents = usePoll(() => api.post<BlockDocument[]>("/block_documents/filter", {
    ...filter, sort: "BLOCK_TYPE_AND_NAME_ASC", limit: 200,
  }), [typeSlug], 2000);
  const total = usePoll(() => api.post<number>("/block_documents/count", filter), [typeSlug], 2000);
  if (unavailable(types.error)) {
    return <div className="page"><h1>Blocks</h1><Empty>This server has no blocks API.</Empty></div>;
  }
  const newest = newestSchemas(schemas.data);
  const selected = types.data?.find((type) => type.slug === typeSlug);
  const setType = (slug: string) => navigate(slug ? `/blocks?type=${encodeURIComponent(slug)}` : "/blocks", true);
  return (
    <div className="page">
      <h1>Blocks</h1>
      <ErrorNote error={types.error ?? schemas.error ?? documents.error ?? total.error} />
      {selected ? <TypeCard type={selected} schema={newest.get(selected.id)} /> : null}
      <Card title={<>Documents ({countText(total.data, total.error)})</>} testId="block-documents"
        actions={
          <label className="inline">Type
            <select aria-label="Block type" value={typeSlug} onChange={(event) => setType(event.target.value)}>
              <option value="">all</option>
              {(types.data ?? []).map((type) => <option key={type.id} value={type.slug}>{type.name}</option>)}
              {typeSlug && types.data && !selected ? <option value={typeSlug}>{typeSlug}</option> : null}
            </select>
          </label>
        }>
        {documents.data === undefined ? <Pending error={documents.error} />
          : documents.data.length === 0 ? (
            <Empty>No saved blocks{typeSlug ? ` of type ${typeSlug}` : ""}: <code>MyBlock(...).save("name")</code>, or create one from a type below.</Empty>
          ) : (
            <table data-testid="block-documents-table">
              <thead><tr><th>Name</th><th>Type</th><th>Updated</th></tr></thead>
              <tbody>
                {documents.data.map((document) => (
                  <tr key={document.id} data-block={document.name ?? document.id}>
                    <td><Link to={`/blocks/document/${document.id}`}>{document.name ?? document.id}</Link></td>
                    <td>{document.block_type?.name ?? document.block_type_name}</td>
                    <td title={formatTime(document.updated)}>{relative(document.updated)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        {documents.data && total.data !== undefined && total.data > documents.data.length
          ? <div className="muted">Showing the first {documents.data.length}: filter by type to see the others.</div> : null}
      </Card>
      <Card title="Block types" testId="block-types">
        {types.data === undefined ? <Pending error={types.error} />
          : types.data.length === 0 ? <Empty>No block types yet: the server registers the built-in ones when it starts; saving a block registers its type, and so does <code>vibepiper block register -m MODULE</code>.</Empty>
          : (
            <table data-testid="block-types-table">
              <thead><tr><th>Type</th><th>Description</th><th>Capabilities</th><th></th></tr></thead>
              <tbody>
                {types.data.map((type) => (
                  <tr key={type.id} data-block-type={type.slug}>
                    <td><Link to={`/blocks?type=${encodeURIComponent(type.slug)}`}>{type.name}</Link> <div className="muted">{type.slug}</div></td>
                    <td>{firstLine(type.description) || <span className="muted">—</span>}</td>
                    <td><Capabilities schema={newest.get(type.id)} /></td>
                    <td>{newest.has(type.id) ? <Link to={`/blocks/new/${encodeURIComponent(type.slug)}`}>Create</Link> : <span className="muted">no schema</span>}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
      </Card>
    </div>
  );
}

function TypeCard(props: { type: BlockType; schema: BlockSchema | undefined }) {
  const { type, schema } = props;
  return (
    <Card title={type.name} testId="block-type"
      actions={schema ? <Link to={`/blocks/new/${encodeURIComponent(type.slug)}`}>Create a {type.name} block</Link> : null}>
      {type.description ? <p className="description">{unwrap(type.description)}</p> : null}
      <dl className="details">
        <dt>Slug</dt><dd>{type.slug}</dd>
        <dt>Capabilities</dt><dd><Capabilities schema={schema} /></dd>
        <dt>Schema</dt><dd>{schema ? `${schema.version} · ${schema.checksum.slice(0, 19)}…` : "none"}</dd>
        {type.documentation_url ? <><dt>Docs</dt><dd><a href={type.documentation_url} rel="noreferrer">{type.documentation_url}</a></dd></> : null}
      </dl>
      {type.code_example ? <><h3>Use it</h3><pre className="json">{codeExample(type.code_example, "BLOCK_NAME")}</pre></> : null}
    </Card>
  );
}

export function BlockCreatePage(props: { slug: string }) {
  const type = usePoll(() => api.get<BlockType>(`/block_types/slug/${encodeURIComponent(props.slug)}`), [props.slug], null);
  const schemas = usePoll(() => type.data
    ? api.post<BlockSchema[]>("/block_schemas/filter", { block_schemas: { block_type_id: { any_: [type.data.id] } }, limit: 1 })
    : Promise.resolve(undefined), [type.data?.id], null);
  const crumbs = <div className="crumbs"><Link to="/blocks">Blocks</Link> / <Link to={`/blocks?type=${encodeURIComponent(props.slug)}`}>{type.data?.name ?? props.slug}</Link></div>;
  const schema = schemas.data?.[0];
  return (
    <div className="page">
      {crumbs}
      <h1>New {type.data?.name ?? props.slug} block</h1>
      <ErrorNote error={type.error ?? schemas.error} />
      {type.data === undefined || (schemas.data === undefined && !schemas.error) ? <Pending error={type.error ?? schemas.error} />
        : !schema ? <Empty>This block type has no schema to fill in.</Empty>
        : (
          <Card title="Fields">
            <BlockForm blockType={type.data} schema={schema}
              onSaved={(id) => navigate(`/blocks/document/${id}`)}
              onCancel={() => navigate(`/blocks?type=${encodeURIComponent(props.slug)}`)} />
          </Card>
        )}
    </div>
  );
}

/** The type's code example (markdown) as code, loading this document. */
function codeExample(example: string, name: string): string {
  return example.replace(/^```\w*\n?/gm, "").replace(/BLOCK_NAME/g, name).trim();
}

function shown(value: unknown): string {
  if (value === undefined || value === null) return "—";
  if (typeof value === "string") return value;
  return JSON.stringify(value);
}

export function BlockDocumentPage(props: { id: string; editing: boolean }) {
  const document = usePoll(() => api.get<BlockDocument>(`/block_documents/${props.id}`), [props.id], props.editing ? null : 2000);
  const [confirming, setConfirming] = useState(false);
  const [actionError, setActionError] = useState<string | null>(null);
  if (!document.data) {
    const gone = document.error instanceof ApiError && document.error.status === 404;
    return (
      <div className="page">
        <div className="crumbs"><Link to="/blocks">Blocks</Link></div>
        <h1>Block</h1>
        {gone ? <Empty>No block document {props.id}: it may have been deleted.</Empty>
          : <><ErrorNote error={document.error} /><Pending error={document.error} /></>}
      </div>
    );
  }
  const d = document.data;
  const type = d.block_type;
  const schema = d.block_schema;
  const fields = fieldsOf(schema?.fields ?? null);
  const known = new Set(fields.map((field) => field.name));
  const extra = Object.keys(d.data).filter((key) => !known.has(key));
  const remove = async () => {
    setActionError(null);
    try {
      await api.delete(`/block_documents/${d.id}`);
      navigate(`/blocks?type=${encodeURIComponent(type?.slug ?? "")}`);
    } catch (caught) {
      setConfirming(false);
      setActionError(caught instanceof Error ? caught.message : String(caught));
    }
  };
  return (
    <div className="page">
      <div className="run-header">
        <div>
          <div className="crumbs"><Link to="/blocks">Blocks</Link> / <Link to={`/blocks?type=${encodeURIComponent(type?.slug ?? "")}`}>{type?.name ?? d.block_type_name}</Link></div>
          <h1 data-testid="block-name">{d.name ?? d.id}</h1>
          <div className="meta">
            <span>type <code>{type?.slug}</code></span>
            <span title={formatTime(d.updated)}>updated {relative(d.updated)}</span>
            <Capabilities schema={schema ?? undefined} />
          </div>
        </div>
        <div className="run-actions">
          {props.editing ? null : <button onClick={() => navigate(`/blocks/document/${d.id}/edit`)}>Edit</button>}
          {confirming ? (
            <span className="confirm" role="group" aria-label="Confirm delete">
              Delete {d.name}?
              <button className="danger" onClick={remove}>Yes, delete</button>
              <button onClick={() => setConfirming(false)}>No</button>
            </span>
          ) : <button className="danger" onClick={() => setConfirming(true)}>Delete</button>}
          {actionError ? <div className="error" role="alert">{actionError}</div> : null}
        </div>
      </div>
      <ErrorNote error={document.error} />
      {props.editing && type && schema ? (
        <Card title="Edit">
          <BlockForm blockType={type} schema={schema} document={d}
            onSaved={() => { document.refresh(); navigate(`/blocks/document/${d.id}`); }}
            onCancel={() => navigate(`/blocks/document/${d.id}`)} />
        </Card>
      ) : (
        <Card title="Fields" testId="block-fields">
          <dl className="details wide">
            {fields.map((field) => {
              const reference = d.block_document_references[field.name]?.block_document;
              const value = d.data[field.name];
              return (
                <div key={field.name} className="detail-row" data-field={field.name}>
                  <dt>{field.title}</dt>
                  <dd>
                    {reference ? (
                      <><Link to={`/blocks/document/${reference.id}`}>{reference.name ?? reference.id}</Link> <span className="muted">({reference.block_type?.slug ?? field.blockTypeSlug})</span></>
                    ) : value === SECRET_MASK ? <span className="secret">{SECRET_MASK}</span>
                      : typeof value === "object" && value !== null ? <JsonView value={value} />
                      : shown(value)}
                  </dd>
                </div>
              );
            })}
            {extra.map((key) => (
              <div key={key} className="detail-row" data-field={key}>
                <dt>{key}</dt><dd>{typeof d.data[key] === "object" && d.data[key] !== null ? <JsonView value={d.data[key]} /> : shown(d.data[key])}</dd>
              </div>
            ))}
          </dl>
          {fields.length === 0 && extra.length === 0 ? <Empty>No fields.</Empty> : null}
        </Card>
      )}
      {type?.code_example && !props.editing ? (
        <Card title="Use it">
          <pre className="json" data-testid="code-example">{codeExample(type.code_example, d.name ?? "")}</pre>
        </Card>
      ) : null}
    </div>
  );
}
