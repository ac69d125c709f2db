// Polling, driven by the event stream where a page gives one. Each load replaces the data
// (a load answering what is shown already keeps the same object, so nothing re-renders);
// a failed load keeps the last good data and shows the error. Loads pause while the tab
// is hidden and run again when it shows.
//
// With `live` (an event filter), each matching event asks for a load: loads of one query
// never overlap and start at most once per COALESCE_MS (or per the last load's duration,
// if longer), so a burst of events from a 1,000-task run costs a few loads, not one each.
// While the stream is up the periodic poll slows to SAFETY_INTERVAL_MS; while it is down
// (blocked, server restarting) or busy the query polls at its normal interval. See live.ts.
import { useCallback, useEffect, useRef, useState } from "react";
import type { EventFilter } from "./api";
import { useLive } from "./live";

export const LIVE_INTERVAL_MS = 1000;
/** How often a query polls while the event stream tells it what changed: a safety net. */
export const SAFETY_INTERVAL_MS = 30_000;
/** The least time between two loads of one query that events ask for. */
export const COALESCE_MS = 250;

export interface Polled<T> {
  data: T | undefined;
  error: Error | undefined;
  loading: boolean;
  refresh: () => void;
}

/** The interval a query polls at: its own, or the safety interval while the stream is up. */
export function pollInterval(intervalMs: number | null, streaming: boolean): number | null {
  if (intervalMs === null) return null;
  return streaming ? Math.max(intervalMs, SAFETY_INTERVAL_MS) : intervalMs;
}

export function usePoll<T>(
  load: () => Promise<T>,
  deps: unknown[],
  intervalMs: number | null = LIVE_INTERVAL_MS,
  live: EventFilter | null = null,
): Polled<T> {
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState<Error | undefined>(undefined);
  const [loading, setLoading] = useState(true);
  const [tick, setTick] = useState(0);
  const loadRef = useRef(load);
  loadRef.current = load;
  const shown = useRef<string | undefined>(undefined);
  const shownValue = useRef<unknown>(undefined);
  const wake = useRef<() => void>(() => undefined);
  const every = useRef<number | null>(intervalMs);
  const status = useLive(live, () => wake.current(), (next) => {
    // the stream came up (catch up on what changed before it did) or went down
    every.current = pollInterval(intervalMs, next === "open");
    wake.current();
  });
  every.current = pollInterval(intervalMs, status === "open");

  useEffect(() => {
    shown.current = undefined;
    shownValue.current = undefined;
    setData(undefined);
    setLoading(true);
  }, deps); // eslint-disable-line react-hooks/exhaustive-deps

  useEffect(() => {
    let cancelled = false;
    let timer: number | undefined;
    let dueAt = 0;
    let inFlight = false;
    let again = false;
    let lastStart = -Infinity;
    let lastDuration = 0;
    const schedule = (delay: number) => {
      window.clearTimeout(timer);
      dueAt = Date.now() + delay;
      timer = window.setTimeout(() => void run(), delay);
    };
    const gap = () => Math.max(0, Math.max(COALESCE_MS, lastDuration) - (Date.now() - lastStart));
    const run = async () => {
      timer = undefined;
      if (inFlight) {
        again = true;
        return;
      }
      if (document.visibilityState !== "hidden") {
        inFlight = true;
        lastStart = Date.now();
        try {
          const value = await loadRef.current();
          if (cancelled) return;
          const text = Object.is(value, shownValue.current) ? shown.current : JSON.stringify(value);
          shownValue.current = value;
          if (text !== shown.current || text === undefined) {
            shown.current = text;
            setData(value);
          }
          setError(undefined);
        } catch (caught) {
          if (cancelled) return;
          setError(caught instanceof Error ? caught : new Error(String(caught)));
        } finally {
          inFlight = false;
          lastDuration = Date.now() - lastStart;
        }
        setLoading(false);
      }
      if (cancelled) return;
      if (again) {
        again = false;
        schedule(gap());
      } else if (every.current !== null) {
        schedule(every.current);
      }
    };
    wake.current = () => {
      if (cancelled) return;
      if (inFlight) {
        again = true;
        return;
      }
      const wait = gap();
      if (timer !== undefined && dueAt <= Date.now() + wait) return; // due soon already
      schedule(wait);
    };
    const shows = () => {
      if (document.visibilityState !== "hidden") wake.current();
    };
    document.addEventListener("visibilitychange", shows);
    void run();
    return () => {
      cancelled = true;
      window.clearTimeout(timer);
      document.removeEventListener("visibilitychange", shows);
      wake.current = () => undefined;
    };
  }, [...deps, tick, intervalMs]); // eslint-disable-line react-hooks/exhaustive-deps

  const refresh = useCallback(() => setTick((value) => value + 1), []);
  return { data, error, loading, refresh };
}

/** Re-renders every `intervalMs` (never when null), for what shows time passing (a running
 * run's duration) while its data stays the same; answers the time. */
export function useClock(intervalMs: number | null): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    if (intervalMs === null) return undefined;
    const timer = window.setInterval(() => setNow(Date.now()), intervalMs);
    return () => window.clearInterval(timer);
  }, [intervalMs]);
  return now;
}
