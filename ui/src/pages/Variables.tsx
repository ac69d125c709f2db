// Variables: named JSON values (name, value, tags, last update), created, edited and
// deleted here. The server checks names and values; its refusal is shown as one message.
import { type FormEvent, useState } from "react";
import { api, ApiError, type Variable } from "../api";
import { Card, countText, Empty, ErrorNote, Pending, Tags } from "../components/common";
import { formatTime, relative } from "../format";
import { usePoll } from "../hooks";

type ValueKind = "text" | "json";

function compact(value: unknown): string {
  const text = typeof value === "string" ? value : JSON.stringify(value);
  return text.length > 120 ? `${text.slice(0, 117)}…` : text;
}

export function VariablesPage() {
  const [search, setSearch] = useState("");
  const filter = search.trim() ? { variables: { name: { like_: search.trim() } } } : {};
  const variables = usePoll(() => api.post<Variable[]>("/variables/filter", { ...filter, sort: "NAME_ASC", limit: 200 }), [search], 2000);
  const total = usePoll(() => api.post<number>("/variables/count", filter), [search], 2000);
  const [editing, setEditing] = useState<Variable | "new" | null>(null);
  const [confirming, setConfirming] = useState<string | null>(null);
  const [actionError, setActionError] = useState<string | null>(null);
  if (variables.error instanceof ApiError && (variables.error.status === 404 || variables.error.status === 405)) {
    return <div className="page"><h1>Variables</h1><Empty>This server has no variables API.</Empty></div>;
  }
  const remove = async (name: string) => {
    setActionError(null);
    try {
      await api.delete(`/variables/name/${encodeURIComponent(name)}`);
    } catch (caught) {
      setActionError(caught instanceof Error ? caught.message : String(caught));
    }
    setConfirming(null);
    variables.refresh();
    total.refresh();
  };
  const done = () => {
    setEditing(null);
    variables.refresh();
    total.refresh();
  };
  return (
    <div className="page">
      <h1>Variables</h1>
      <ErrorNote error={variables.error ?? total.error} />
      {actionError ? <div className="error" role="alert">{actionError}</div> : null}
      {editing ? (
        <Card title={editing === "new" ? "New variable" : `Edit ${editing.name}`}>
          <VariableForm key={editing === "new" ? "new" : editing.id} variable={editing === "new" ? undefined : editing}
            onSaved={done} onCancel={() => setEditing(null)} />
        </Card>
      ) : null}
      <Card title={<>Variables ({countText(total.data, total.error)})</>} testId="variables"
        actions={<button onClick={() => setEditing("new")}>New variable</button>}>
        <div className="filters">
          <input type="search" placeholder="Search by name" aria-label="Search variables" value={search}
            onChange={(event) => setSearch(event.target.value)} />
        </div>
        {variables.data === undefined ? <Pending error={variables.error} />
          : variables.data.length === 0 ? (
            <Empty>{search.trim() ? "No variable matches." : <>No variables yet: <code>vibepiper variable set NAME VALUE</code>, <code>Variable.set(...)</code> or <b>New variable</b>.</>}</Empty>
          ) : (
            <table data-testid="variables-table">
              <thead><tr><th>Name</th><th>Value</th><th>Tags</th><th>Updated</th><th></th></tr></thead>
              <tbody>
                {variables.data.map((variable) => (
                  <tr key={variable.id} data-variable={variable.name}>
                    <td>{variable.name}</td>
                    <td><code className="value" title={JSON.stringify(variable.value)}>{compact(variable.value)}</code></td>
                    <td><Tags tags={variable.tags} /></td>
                    <td title={formatTime(variable.updated)}>{relative(variable.updated)}</td>
                    <td><div className="row-actions">
                      <button onClick={() => setEditing(variable)}>Edit</button>
                      {confirming === variable.name ? (
                        <span className="confirm" role="group" aria-label="Confirm delete">
                          Delete {variable.name}?
                          <button className="danger" onClick={() => remove(variable.name)}>Yes, delete</button>
                          <button onClick={() => setConfirming(null)}>No</button>
                        </span>
                      ) : <button className="danger" onClick={() => setConfirming(variable.name)}>Delete</button>}
                    </div></td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        {variables.data && total.data !== undefined && total.data > variables.data.length
          ? <div className="muted">Showing the first {variables.data.length}: search by name to find the others.</div> : null}
      </Card>
    </div>
  );
}

function VariableForm(props: { variable?: Variable; onSaved: () => void; onCancel: () => void }) {
  const { variable } = props;
  const [name, setName] = useState(variable?.name ?? "");
  const [kind, setKind] = useState<ValueKind>(variable === undefined || typeof variable.value === "string" ? "text" : "json");
  const [value, setValue] = useState(
    variable === undefined ? "" : typeof variable.value === "string" ? variable.value : JSON.stringify(variable.value, null, 2),
  );
  const [tags, setTags] = useState((variable?.tags ?? []).join(", "));
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setError(null);
    let parsed: unknown = value;
    if (kind === "json") {
      try {
        parsed = JSON.parse(value);
      } catch (caught) {
        setError(`The value is not valid JSON: ${caught instanceof Error ? caught.message : String(caught)}`);
        return;
      }
    }
    const body = {
      name: name.trim(),
      value: parsed,
      tags: tags.split(",").map((tag) => tag.trim()).filter(Boolean),
    };
    setBusy(true);
    try {
      if (variable) await api.patch(`/variables/name/${encodeURIComponent(variable.name)}`, body);
      else await api.post("/variables/", body);
      props.onSaved();
    } catch (caught) {
      setError(caught instanceof Error ? caught.message : String(caught));
    } finally {
      setBusy(false);
    }
  };

  return (
    <form className="run-form" onSubmit={submit} aria-label={variable ? "Edit variable" : "Create variable"} noValidate>
      <div className="field">
        <label htmlFor="variable-name">Name * <span className="muted">lowercase letters, numbers and underscores</span></label>
        <input id="variable-name" name="name" value={name} onChange={(event) => setName(event.target.value)} />
      </div>
      <div className="field">
        <label htmlFor="variable-value">Value *{" "}
          <select aria-label="Value type" value={kind} onChange={(event) => setKind(event.target.value as ValueKind)}>
            <option value="text">text</option>
            <option value="json">JSON (number, list, object…)</option>
          </select>
        </label>
        <textarea id="variable-value" name="value" rows={kind === "json" ? 5 : 2} value={value}
          onChange={(event) => setValue(event.target.value)} />
      </div>
      <div className="field">
        <label htmlFor="variable-tags">Tags <span className="muted">comma-separated</span></label>
        <input id="variable-tags" name="tags" value={tags} onChange={(event) => setTags(event.target.value)} />
      </div>
      {error ? <div className="error" role="alert" data-testid="form-error">{error}</div> : null}
      <div className="form-actions">
        <button type="submit" disabled={busy}>{variable ? "Save" : "Create"}</button>
        <button type="button" onClick={props.onCancel}>Cancel</button>
      </div>
    </form>
  );
}
