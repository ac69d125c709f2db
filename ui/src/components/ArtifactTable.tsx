// A table artifact: Prefect stores it as JSON text (or a JSON value) of a list of dicts,
// a dict of lists, or a list of lists (its first row the header). Shown sortable (click a header; again to reverse);
// every cell is text, never HTML.
import { useMemo, useState } from "react";
import { JsonView } from "./common";

export interface TableData {
  columns: string[];
  rows: unknown[][];
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** The table `data` holds, or null when it is none of the three shapes (an empty list is
 * an empty list of dicts). */
export function toTable(data: unknown): TableData | null {
  let value = data;
  if (typeof value === "string") {
    try {
      value = JSON.parse(value);
    } catch {
      return null;
    }
  }
  if (Array.isArray(value)) {
    if (value.every(isRecord)) {
      const columns: string[] = [];
      const seen = new Set<string>();
      for (const row of value) {
        for (const column of Object.keys(row)) {
          if (!seen.has(column)) {
            seen.add(column);
            columns.push(column);
          }
        }
      }
      return { columns, rows: value.map((row) => columns.map((column) => row[column])) };
    }
    if (value.length > 0 && value.every(Array.isArray)) {
      // the first row is the header
      const [header, ...rows] = value as unknown[][];
      const width = Math.max(...value.map((row: unknown[]) => row.length));
      const columns = Array.from({ length: width }, (_, index) =>
        index < header.length ? cellText(header[index]) : String(index + 1));
      return { columns, rows };
    }
    return null;
  }
  if (isRecord(value)) {
    const columns = Object.keys(value);
    if (columns.length === 0 || !columns.every((column) => Array.isArray(value[column]))) return null;
    const lists = columns.map((column) => value[column] as unknown[]);
    const height = Math.max(...lists.map((list) => list.length));
    return { columns, rows: Array.from({ length: height }, (_, index) => lists.map((list) => list[index])) };
  }
  return null;
}

export function cellText(value: unknown): string {
  if (value === null || value === undefined) return "";
  if (typeof value === "string") return value;
  if (typeof value === "number" || typeof value === "boolean") return String(value);
  return JSON.stringify(value);
}

function isBlank(value: unknown): boolean {
  return value === null || value === undefined || value === "";
}

/** Numbers by value, the rest as text (digits in it compared as numbers); blanks last. */
function compareCells(a: unknown, b: unknown): number {
  const blankA = isBlank(a);
  const blankB = isBlank(b);
  if (blankA || blankB) return blankA === blankB ? 0 : blankA ? 1 : -1;
  if (typeof a === "number" && typeof b === "number") return a - b;
  return cellText(a).localeCompare(cellText(b), undefined, { numeric: true });
}

type Sort = { column: number; descending: boolean } | null;

export function ArtifactTable(props: { data: unknown }) {
  const table = useMemo(() => toTable(props.data), [props.data]);
  const [sort, setSort] = useState<Sort>(null);
  const rows = useMemo(() => {
    if (!table || sort === null) return table?.rows ?? [];
    const sorted = table.rows.map((row, index) => ({ row, index }));
    sorted.sort((a, b) => {
      const order = compareCells(a.row[sort.column], b.row[sort.column]);
      // blanks stay last either way; ties keep their stored order
      const blank = isBlank(a.row[sort.column]) || isBlank(b.row[sort.column]);
      return (sort.descending && !blank ? -order : order) || a.index - b.index;
    });
    return sorted.map((item) => item.row);
  }, [table, sort]);
  if (!table) {
    return (
      <div>
        <div className="muted">Not a table (a list of rows, a dict of columns, or a list of lists):</div>
        {typeof props.data === "string" ? <pre className="json">{props.data}</pre> : <JsonView value={props.data} />}
      </div>
    );
  }
  if (table.rows.length === 0) return <div className="empty">An empty table.</div>;
  const toggle = (column: number) => setSort((current) =>
    current?.column === column ? { column, descending: !current.descending } : { column, descending: false });
  return (
    <div className="artifact-table-scroll">
      <table className="artifact-table" data-testid="artifact-table">
        <thead>
          <tr>
            {table.columns.map((column, index) => {
              const sorted = sort?.column === index ? (sort.descending ? "descending" : "ascending") : undefined;
              return (
                <th key={index} aria-sort={sorted ?? "none"}>
                  <button type="button" className="sort-header" onClick={() => toggle(index)}>
                    {column}{sorted ? (sorted === "ascending" ? " ▲" : " ▼") : ""}
                  </button>
                </th>
              );
            })}
          </tr>
        </thead>
        <tbody>
          {rows.map((row, rowIndex) => (
            <tr key={rowIndex}>
              {table.columns.map((_, index) => <td key={index}>{cellText(row[index])}</td>)}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
