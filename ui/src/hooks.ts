// Polling: the dashboard's live updates. Each poll replaces the data; a failed poll keeps
// the last good data and shows the error. Polls pause while the tab is hidden.
import { useCallback, useEffect, useRef, useState } from "react";

export const LIVE_INTERVAL_MS = 1000;

export interface Polled<T> {
  data: T | undefined;
  error: Error | undefined;
  loading: boolean;
  refresh: () => void;
}

export function usePoll<T>(
  load: () => Promise<T>,
  deps: unknown[],
  intervalMs: number | null = LIVE_INTERVAL_MS,
): Polled<T> {
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState<Error | undefined>(undefined);
  const [loading, setLoading] = useState(true);
  const [tick, setTick] = useState(0);
  const loadRef = useRef(load);
  loadRef.current = load;

  useEffect(() => {
    setData(undefined);
    setLoading(true);
  }, deps); // eslint-disable-line react-hooks/exhaustive-deps

  useEffect(() => {
    let cancelled = false;
    let timer: number | undefined;
    const run = async () => {
      if (document.visibilityState !== "hidden") {
        try {
          const value = await loadRef.current();
          if (cancelled) return;
          setData(value);
          setError(undefined);
        } catch (caught) {
          if (cancelled) return;
          setError(caught instanceof Error ? caught : new Error(String(caught)));
        }
        setLoading(false);
      }
      if (!cancelled && intervalMs !== null) timer = window.setTimeout(run, intervalMs);
    };
    void run();
    return () => {
      cancelled = true;
      window.clearTimeout(timer);
    };
  }, [...deps, tick, intervalMs]); // eslint-disable-line react-hooks/exhaustive-deps

  const refresh = useCallback(() => setTick((value) => value + 1), []);
  return { data, error, loading, refresh };
}
