// The API-key prompt: shown when the server answers 401. The key is kept in
// localStorage and sent as `Authorization: Bearer <key>` with every call.
import { type FormEvent, useState } from "react";
import { api, ApiError, storeApiKey } from "../api";

export function Login(props: { onDone: () => void }) {
  const [key, setKey] = useState("");
  const [error, setError] = useState<string | null>(null);
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    storeApiKey(key.trim());
    try {
      await api.get("/version");
      setError(null);
      props.onDone();
    } catch (caught) {
      storeApiKey(null);
      setError(caught instanceof ApiError && caught.status === 401
        ? "That key was refused by the server." : String(caught));
    }
  };
  return (
    <div className="login">
      <form onSubmit={submit} aria-label="API key">
        <h1>VibePiper</h1>
        <p>This server needs an API key (VIBEPIPER_SERVER_API_KEY).</p>
        <label>
          API key
          <input type="password" name="api-key" autoFocus value={key}
            onChange={(event) => setKey(event.target.value)} />
        </label>
        {error ? <div className="error" role="alert">{error}</div> : null}
        <button type="submit" disabled={!key.trim()}>Sign in</button>
      </form>
    </div>
  );
}
