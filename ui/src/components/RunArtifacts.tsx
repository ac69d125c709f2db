// The Artifacts tab of a flow run: what the run (and its tasks) published, newest first,
// each rendered by its type. Polled like the rest of the run page, so a progress bar
// moves while the run goes on. Artifacts are not events: this keeps polling (every second
// while the run goes) whether or not the page's event stream is up.
import { type Artifact, type ArtifactQuery, api, ApiError } from "../api";
import { type Polled, usePoll } from "../hooks";
import { ArtifactCard } from "./Artifact";
import { Card, countText, Empty, ErrorNote, Pending } from "./common";

export const RUN_ARTIFACTS_LIMIT = 200;

export function runArtifactsQuery(runId: string): ArtifactQuery {
  return { artifacts: { flow_run_id: { any_: [runId] } } };
}

/** How many artifacts the run published (the tab's label polls it too). */
export function useRunArtifactCount(runId: string, interval: number): Polled<number> {
  return usePoll(() => api.post<number>("/artifacts/count", runArtifactsQuery(runId)), [runId], interval);
}

export function RunArtifacts(props: {
  runId: string; interval: number; taskNames: Map<string, string>; total: Polled<number>;
}) {
  const { total } = props;
  const artifacts = usePoll(() => api.post<Artifact[]>("/artifacts/filter", {
    ...runArtifactsQuery(props.runId), sort: "CREATED_DESC", limit: RUN_ARTIFACTS_LIMIT,
  }), [props.runId], props.interval);
  if (artifacts.error instanceof ApiError && (artifacts.error.status === 404 || artifacts.error.status === 405)) {
    return <Card title="Artifacts"><Empty>This server has no artifacts API.</Empty></Card>;
  }
  return (
    <Card title={<>Artifacts ({countText(total.data, total.error)})</>} testId="run-artifacts">
      <ErrorNote error={artifacts.error ?? total.error} />
      {artifacts.data === undefined ? <Pending error={artifacts.error} />
        : artifacts.data.length === 0 ? (
          <Empty>This run published no artifacts: <code>create_markdown_artifact(...)</code>, <code>create_table_artifact(...)</code> and the other <code>vibepiper.artifacts</code> functions publish them.</Empty>
        ) : (
          <div className="artifact-list">
            {artifacts.data.map((artifact) => (
              <ArtifactCard key={artifact.id} artifact={artifact}
                taskName={artifact.task_run_id ? props.taskNames.get(artifact.task_run_id) ?? "task" : undefined} />
            ))}
          </div>
        )}
      {artifacts.data && total.data !== undefined && total.data > artifacts.data.length
        ? <div className="muted">Showing the newest {artifacts.data.length}.</div> : null}
    </Card>
  );
}
