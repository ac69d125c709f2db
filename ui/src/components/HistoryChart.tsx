// Runs by state over time: stacked bars, hand-rolled SVG (no chart library).
import type { HistoryBucket } from "../api";
import { STATE_COLORS } from "../format";

const ORDER = ["COMPLETED", "RUNNING", "PENDING", "SCHEDULED", "PAUSED", "CANCELLING", "CANCELLED", "CRASHED", "FAILED", "NONE"];
const HEIGHT = 160;

export function HistoryChart(props: { buckets: HistoryBucket[] }) {
  const totals = props.buckets.map((b) => Object.values(b.counts).reduce((sum, n) => sum + n, 0));
  const max = Math.max(1, ...totals);
  const width = 860;
  const slot = width / Math.max(props.buckets.length, 1);
  const present = ORDER.filter((state) => props.buckets.some((b) => b.counts[state]));
  return (
    <div>
      <svg width="100%" viewBox={`0 0 ${width} ${HEIGHT + 20}`} data-testid="history-chart" role="img"
        aria-label="Flow runs by state over time">
        <line x1={0} x2={width} y1={HEIGHT} y2={HEIGHT} stroke="#ccc" />
        <text x={2} y={10} fontSize={10} fill="#888">{max}</text>
        {props.buckets.map((bucket, index) => {
          let y = HEIGHT;
          return (
            <g key={bucket.start}>
              <title>{`${new Date(bucket.start).toLocaleString()}: ${totals[index]} runs`}</title>
              {ORDER.map((state) => {
                const count = bucket.counts[state] ?? 0;
                if (!count) return null;
                const h = (count / max) * (HEIGHT - 14);
                y -= h;
                return <rect key={state} x={index * slot + 2} y={y} width={Math.max(slot - 4, 1)} height={h}
                  fill={STATE_COLORS[state]} />;
              })}
            </g>
          );
        })}
        {props.buckets.length > 0 ? (
          <>
            <text x={0} y={HEIGHT + 14} fontSize={10} fill="#888">{new Date(props.buckets[0].start).toLocaleString()}</text>
            <text x={width} y={HEIGHT + 14} fontSize={10} fill="#888" textAnchor="end">now</text>
          </>
        ) : null}
      </svg>
      <div className="legend">
        {present.map((state) => (
          <span key={state}><i style={{ background: STATE_COLORS[state] }} />{state.toLowerCase()}</span>
        ))}
      </div>
    </div>
  );
}
