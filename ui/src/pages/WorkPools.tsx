// Work pools: their queues (priority, paused, last polled) and workers (last heartbeat).
import { api, ApiError, type WorkPool, type WorkQueue, type Worker } from "../api";
import { Card, Empty, ErrorNote, Pending } from "../components/common";
import { relative } from "../format";
import { usePoll } from "../hooks";

export function WorkPoolsPage() {
  const pools = usePoll(() => api.get<WorkPool[]>("/work_pools/"), [], 2000);
  if (pools.error instanceof ApiError && (pools.error.status === 404 || pools.error.status === 405)) {
    return <div className="page"><h1>Work pools</h1><Empty>This server has no work pools API.</Empty></div>;
  }
  return (
    <div className="page">
      <h1>Work pools</h1>
      <ErrorNote error={pools.error} />
      {pools.data === undefined ? <Pending error={pools.error} />
        : pools.data.length === 0 ? <Empty>No work pools: <code>vibepiper work-pool create NAME</code>.</Empty>
        : pools.data.map((pool) => <PoolCard key={pool.id} pool={pool} />)}
    </div>
  );
}

function PoolCard(props: { pool: WorkPool }) {
  const { pool } = props;
  const name = encodeURIComponent(pool.name);
  const queues = usePoll(() => api.get<WorkQueue[]>(`/work_pools/${name}/queues`), [pool.name], 2000);
  const workers = usePoll(() => api.get<Worker[]>(`/work_pools/${name}/workers`), [pool.name], 2000);
  return (
    <Card testId="work-pool" title={<>{pool.name} <span className={pool.paused ? "pill paused" : "pill"}>{pool.status.toLowerCase()}</span></>}>
      <ErrorNote error={queues.error ?? workers.error} />
      <div className="grid two">
        <div>
          <h3>Queues</h3>
          {queues.data === undefined ? <Pending error={queues.error} /> : (
            <table>
              <thead><tr><th>Queue</th><th>Priority</th><th>Limit</th><th>Last polled</th></tr></thead>
              <tbody>
                {queues.data.map((queue) => (
                  <tr key={queue.id}>
                    <td>{queue.name} {queue.paused ? <span className="pill paused">paused</span> : null}</td>
                    <td>{queue.priority}</td>
                    <td>{queue.concurrency_limit ?? "∞"}</td>
                    <td>{relative(queue.last_polled)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </div>
        <div>
          <h3>Workers</h3>
          {workers.data === undefined ? <Pending error={workers.error} />
            : workers.data.length === 0 ? <Empty>No worker has polled this pool.</Empty> : (
            <table data-testid="workers">
              <thead><tr><th>Worker</th><th>Status</th><th>Last heartbeat</th><th>Runs</th></tr></thead>
              <tbody>
                {workers.data.map((worker) => (
                  <tr key={worker.id}>
                    <td>{worker.name}</td>
                    <td><span className={worker.status === "ONLINE" ? "pill online" : "pill paused"}>{worker.status.toLowerCase()}</span></td>
                    <td>{relative(worker.last_heartbeat)}</td>
                    <td>{worker.flow_run_ids.length}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </div>
      </div>
      <div className="muted">Concurrency limit: {pool.concurrency_limit ?? "none"} · type {pool.type}</div>
    </Card>
  );
}
