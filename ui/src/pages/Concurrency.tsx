// Concurrency limits: each limit with its slots in use (a bar) and who holds them.
import { api } from "../api";
import { Card, Empty, ErrorNote, Pending } from "../components/common";
import { usePoll } from "../hooks";

interface LimitUsage {
  id: string;
  name: string;
  kind: string;
  limit: number;
  active: boolean;
  slot_decay_per_second: number;
  slots_in_use: number;
  holders: string[];
}

export function ConcurrencyPage() {
  const limits = usePoll(() => api.get<LimitUsage[]>("/ui/concurrency_limits"), [], 1000);
  return (
    <div className="page">
      <h1>Concurrency limits</h1>
      <ErrorNote error={limits.error} />
      <Card title="Limits">
        {limits.data === undefined ? <Pending error={limits.error} />
          : limits.data.length === 0 ? <Empty>No limits: <code>vibepiper concurrency-limit create TAG N</code>.</Empty> : (
          <table data-testid="limits-table">
            <thead><tr><th>Name</th><th>Kind</th><th>Slots in use</th><th></th><th>Active</th><th>Decay</th><th>Held by</th></tr></thead>
            <tbody>
              {limits.data.map((row) => {
                const share = row.limit ? Math.min(1, row.slots_in_use / row.limit) : 0;
                return (
                  <tr key={row.id} data-limit={row.name}>
                    <td>{row.name}</td>
                    <td>{row.kind}</td>
                    <td data-testid="slots">{row.slots_in_use} / {row.limit}</td>
                    <td><div className="bar"><div style={{ width: `${share * 100}%` }} className={share >= 1 ? "full" : ""} /></div></td>
                    <td>{row.active ? "yes" : "no"}</td>
                    <td>{row.slot_decay_per_second ? `${row.slot_decay_per_second}/s` : "—"}</td>
                    <td className="muted">{row.holders.slice(0, 5).join(", ")}{row.holders.length > 5 ? ` +${row.holders.length - 5}` : ""}</td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        )}
      </Card>
    </div>
  );
}
