// The "Run" form of a deployment, generated from its parameter schema. Nothing is sent
// until every field parses and validates; server-side errors (422) are shown as given.
import { type FormEvent, useMemo, useState } from "react";
import { api, type Deployment, type FlowRun } from "../api";
import { navigate } from "../router";
import { FieldInput } from "./FieldInput";
import { fieldsOf, initialText, parseField } from "./schemaForm";

export function RunForm(props: { deployment: Deployment; onClose: () => void }) {
  const { deployment } = props;
  const fields = useMemo(() => fieldsOf(deployment.parameter_openapi_schema), [deployment.parameter_openapi_schema]);
  const [texts, setTexts] = useState<Record<string, string>>(
    () => Object.fromEntries(fields.map((field) => [field.name, initialText(field, deployment.parameters)])),
  );
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [serverError, setServerError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    const parameters: Record<string, unknown> = {};
    const found: Record<string, string> = {};
    for (const field of fields) {
      const parsed = parseField(field, texts[field.name] ?? "");
      if (!parsed.ok) found[field.name] = `${field.title} ${parsed.error}`;
      else if (parsed.present) parameters[field.name] = parsed.value;
    }
    setErrors(found);
    if (Object.keys(found).length) return;
    setBusy(true);
    setServerError(null);
    try {
      const run = await api.post<FlowRun>(`/deployments/${deployment.id}/create_flow_run`, { parameters });
      navigate(`/runs/${run.id}`);
    } catch (caught) {
      setServerError(caught instanceof Error ? caught.message : String(caught));
    } finally {
      setBusy(false);
    }
  };

  return (
    <form className="run-form" onSubmit={submit} aria-label="Run deployment" noValidate>
      <h3>Run {deployment.flow_name}/{deployment.name}</h3>
      {fields.length === 0 ? <p className="muted">This deployment takes no parameters.</p> : null}
      {fields.map((field) => (
        <FieldInput key={field.name} field={field} text={texts[field.name] ?? ""} error={errors[field.name]}
          onChange={(text) => setTexts({ ...texts, [field.name]: text })} />
      ))}
      {serverError ? <div className="error" role="alert">{serverError}</div> : null}
      <div className="form-actions">
        <button type="submit" disabled={busy}>Run</button>
        <button type="button" onClick={props.onClose}>Close</button>
      </div>
    </form>
  );
}
