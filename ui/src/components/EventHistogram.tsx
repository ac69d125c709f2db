// Events over time: one bar per count-by bucket, hand-rolled SVG like HistoryChart.
// A click on a bar narrows the range to its bucket.
import type { EventCount } from "../api";

const HEIGHT = 120;
const WIDTH = 860;

export function EventHistogram(props: { buckets: EventCount[]; onPick?: (bucket: EventCount) => void }) {
  const { buckets } = props;
  const max = Math.max(1, ...buckets.map((bucket) => bucket.count));
  const slot = WIDTH / Math.max(buckets.length, 1);
  return (
    <svg width="100%" viewBox={`0 0 ${WIDTH} ${HEIGHT + 20}`} data-testid="event-histogram" role="img"
      aria-label="Events over time">
      <line x1={0} x2={WIDTH} y1={HEIGHT} y2={HEIGHT} stroke="#ccc" />
      <text x={2} y={10} fontSize={10} fill="#888">{max}</text>
      {buckets.map((bucket, index) => {
        if (!bucket.count) return null;
        const h = Math.max((bucket.count / max) * (HEIGHT - 14), 2);
        return (
          <rect key={bucket.start_time} data-testid="histogram-bar" data-count={bucket.count}
            data-start={bucket.start_time} x={index * slot + 1} y={HEIGHT - h}
            width={Math.max(slot - 2, 1)} height={h} fill="#2f7de1"
            className={props.onPick ? "pickable" : undefined}
            onClick={props.onPick ? () => props.onPick?.(bucket) : undefined}>
            <title>
              {`${new Date(bucket.start_time).toLocaleString()} – ${new Date(bucket.end_time).toLocaleString()}: `
                + `${bucket.count.toLocaleString()} event${bucket.count === 1 ? "" : "s"}`}
            </title>
          </rect>
        );
      })}
      {buckets.length > 0 ? (
        <>
          <text x={0} y={HEIGHT + 14} fontSize={10} fill="#888">
            {new Date(buckets[0].start_time).toLocaleString()}
          </text>
          <text x={WIDTH} y={HEIGHT + 14} fontSize={10} fill="#888" textAnchor="end">
            {new Date(buckets[buckets.length - 1].end_time).toLocaleString()}
          </text>
        </>
      ) : null}
    </svg>
  );
}
