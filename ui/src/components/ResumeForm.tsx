// A paused or suspended flow run: what it waits for, until when, and how to resume it.
// The input it waits for is flow-run input under the keys of its state's
// `run_input_keyset` (a state's details are in the run's state history, not on the run):
// the description (Markdown) and the JSON schema, from which the form
// is generated as the deployment's Run form is. The server checks the answer against the
// same schema: a 422 names the field (shown next to it), and the run stays paused.
import { type FormEvent, useMemo, useState } from "react";
import { api, ApiError, type FlowRun, type JsonSchema, type StateRead } from "../api";
import { formatTime } from "../format";
import { usePoll } from "../hooks";
import { Card, ErrorNote, Pending } from "./common";
import { FieldInput } from "./FieldInput";
import { Markdown } from "./Markdown";
import { type Field, fieldsOf, initialText, parseField } from "./schemaForm";

interface Keyset {
  description?: string;
  response?: string;
  schema?: string;
}

interface ResumeResult {
  status: string;
  reason?: string | null;
}

/** The value stored under `key` for the run (JSON), or null when there is none. */
async function readInput<T>(runId: string, key: string | undefined): Promise<T | null> {
  if (!key) return null;
  try {
    return await api.get<T>(`/flow_runs/${runId}/input/${encodeURIComponent(key)}`);
  } catch (caught) {
    if (caught instanceof ApiError && caught.status === 404) return null;
    throw caught;
  }
}

export function PausedRun(props: { run: FlowRun; history: StateRead[] | undefined; onResumed: () => void }) {
  const current = props.history?.find((state) => state.id === props.run.state?.id);
  return (
    <Card title={props.run.state_name === "Suspended" ? "Suspended" : "Paused"} testId="paused-run">
      {current ? <PauseDetails run={props.run} state={current} onResumed={props.onResumed} /> : <Pending error={null} />}
    </Card>
  );
}

function PauseDetails(props: { run: FlowRun; state: StateRead; onResumed: () => void }) {
  const { run } = props;
  const details = props.state.state_details;
  const keyset = (details.run_input_keyset ?? null) as Keyset | null;
  const suspended = props.state.name === "Suspended" || details.pause_reschedule === true;
  const timeout = typeof details.pause_timeout === "string" ? details.pause_timeout : null;
  // the run stores the schema and description just after it pauses: look until they are there
  const description = usePoll(
    () => readInput<unknown>(run.id, keyset?.description), [run.id, keyset?.description], 2000,
  );
  const schema = usePoll(
    () => readInput<JsonSchema>(run.id, keyset?.schema), [run.id, keyset?.schema],
    keyset?.schema ? 1000 : null,
  );
  const waitsForInput = Boolean(keyset?.schema);
  const text = typeof description.data === "string" ? description.data : null;
  return (
    <>
      <p className="muted" data-testid="pause-summary">
        {suspended
          ? "The run's process has exited; resuming starts it again, reusing the results of its completed tasks."
          : "The run is waiting to be resumed."}
        {" "}
        {timeout ? <span data-testid="pause-timeout">It fails if not resumed by {formatTime(timeout)}.</span> : null}
      </p>
      {text ? <Markdown text={text} testId="pause-description" /> : null}
      <ErrorNote error={description.error ?? schema.error} />
      {waitsForInput && !schema.data ? (
        <p className="muted" data-testid="input-pending">Waiting for the run to store the input it asks for…</p>
      ) : (
        <ResumeForm key={keyset?.schema ?? "no-input"} run={run} schema={waitsForInput ? schema.data ?? null : null}
          onResumed={props.onResumed} />
      )}
    </>
  );
}

/** The field a 422's entry names (`run_input.approved` -> `approved`), if it is one of ours. */
function fieldOf(entry: { field?: string; loc?: unknown[] }, fields: Field[]): Field | undefined {
  const path = entry.field ?? (entry.loc ?? []).slice(1).join(".");
  const name = path.replace(/^run_input\.?/, "").split(".")[0];
  return fields.find((field) => field.name === name);
}

function ResumeForm(props: { run: FlowRun; schema: JsonSchema | null; onResumed: () => void }) {
  const { run, schema } = props;
  const fields = useMemo(() => fieldsOf(schema), [schema]);
  const [texts, setTexts] = useState<Record<string, string>>(
    () => Object.fromEntries(fields.map((field) => [field.name, initialText(field, {})])),
  );
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [serverError, setServerError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    let runInput: Record<string, unknown> | null = null;
    if (schema) {
      runInput = {};
      const found: Record<string, string> = {};
      for (const field of fields) {
        const parsed = parseField(field, texts[field.name] ?? "");
        if (!parsed.ok) found[field.name] = `${field.title} ${parsed.error}`;
        else if (parsed.present) runInput[field.name] = parsed.value;
      }
      setErrors(found);
      if (Object.keys(found).length) return;
    }
    setBusy(true);
    setServerError(null);
    try {
      const result = await api.post<ResumeResult>(`/flow_runs/${run.id}/resume`, { run_input: runInput });
      if (result.status === "ACCEPT") props.onResumed();
      else setServerError(result.reason ?? "The server did not resume the run.");
    } catch (caught) {
      if (caught instanceof ApiError && caught.status === 422 && Array.isArray(caught.detail)) {
        const byField: Record<string, string> = {};
        for (const entry of caught.detail as { field?: string; loc?: unknown[]; msg?: string }[]) {
          const field = fieldOf(entry, fields);
          if (field) byField[field.name] = `${field.title}: ${(entry.msg ?? "invalid").replace(/^Value error, /, "")}`;
        }
        setErrors(byField);
      }
      setServerError(caught instanceof Error ? caught.message : String(caught));
    } finally {
      setBusy(false);
    }
  };

  return (
    <form className="run-form" onSubmit={submit} aria-label="Resume flow run" noValidate>
      {fields.map((field) => (
        <FieldInput key={field.name} field={field} idPrefix="input-" text={texts[field.name] ?? ""}
          error={errors[field.name]} onChange={(text) => setTexts({ ...texts, [field.name]: text })} />
      ))}
      {serverError ? <div className="error" role="alert" data-testid="resume-error">{serverError}</div> : null}
      <div className="form-actions">
        <button type="submit" disabled={busy}>Resume</button>
      </div>
    </form>
  );
}
