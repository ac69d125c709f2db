// One form field generated from a JSON schema property (see schemaForm.ts): a checkbox, a
// select, a JSON box, a password input for a secret, or a text/number input. A caller may
// pass its own control as children (the block form's document picker).
import type { ReactNode } from "react";
import type { Field } from "./schemaForm";

export function FieldInput(props: {
  field: Field; text: string; error?: string; onChange: (text: string) => void;
  idPrefix?: string; placeholder?: string; children?: ReactNode;
}) {
  const { field } = props;
  const id = `${props.idPrefix ?? "param-"}${field.name}`;
  let input;
  if (field.kind === "boolean") {
    input = <input id={id} name={field.name} type="checkbox" checked={props.text === "true"}
      onChange={(event) => props.onChange(event.target.checked ? "true" : "false")} />;
  } else if (field.kind === "enum") {
    input = (
      <select id={id} name={field.name} value={props.text} onChange={(event) => props.onChange(event.target.value)}>
        <option value="">—</option>
        {(field.options ?? []).map((option) => (
          <option key={JSON.stringify(option)} value={JSON.stringify(option)}>{String(option)}</option>
        ))}
      </select>
    );
  } else if (field.kind === "json" || field.kind === "block") {
    input = <textarea id={id} name={field.name} rows={3} value={props.text}
      onChange={(event) => props.onChange(event.target.value)} placeholder="JSON" />;
  } else if (field.kind === "secret") {
    // a password input: what it holds is only ever what the user typed here
    input = <input id={id} name={field.name} type="password" autoComplete="new-password" value={props.text}
      placeholder={props.placeholder} onChange={(event) => props.onChange(event.target.value)} />;
  } else {
    input = <input id={id} name={field.name} value={props.text}
      inputMode={field.kind === "string" ? undefined : "decimal"}
      onChange={(event) => props.onChange(event.target.value)} />;
  }
  if (props.children) input = props.children;
  return (
    <div className={props.error ? "field invalid" : "field"}>
      <label htmlFor={id}>{field.title}{field.required ? " *" : ""} <span className="muted">{field.kind}</span></label>
      {input}
      {field.description ? <div className="muted">{field.description}</div> : null}
      {props.error ? <div className="field-error" role="alert">{props.error}</div> : null}
    </div>
  );
}
