// Server-side pagination: the page lives in the URL like the filters.
export function Pager(props: {
  page: number; pageSize: number; total: number | undefined; onPage: (page: number) => void;
  /** What is counted, plural. */
  noun?: string;
}) {
  const pages = props.total === undefined ? undefined : Math.max(1, Math.ceil(props.total / props.pageSize));
  return (
    <div className="pager">
      <button disabled={props.page <= 1} onClick={() => props.onPage(props.page - 1)}>‹ Prev</button>
      <span data-testid="page-info">
        Page {props.page}{pages !== undefined ? ` of ${pages.toLocaleString()}` : ""}
        {props.total !== undefined ? ` · ${props.total.toLocaleString()} ${props.noun ?? "runs"}` : ""}
      </span>
      <button disabled={pages !== undefined && props.page >= pages} onClick={() => props.onPage(props.page + 1)}>
        Next ›
      </button>
    </div>
  );
}
