// The event stream that keeps pages live: the server's `/api/events/out` websocket.
// One socket per filter, shared by every hook on the page that asks for that filter
// (the run page's queries share one, the lists share another). A hook hears each
// matching event and whether the stream is up; `usePoll` (hooks.ts) turns that into a
// coalesced refetch, and polls slowly while the stream is up, at its normal pace while
// it is down. A socket that fails or closes is reopened with backoff (1 s, 2 s, ... 15 s).
//
// A busy stream is not trusted alone: the server re-reads the last minute of events on
// each look, at most 1,000 at a time (services/events.py `follow`), so past that many
// events a minute (a 1,000-task run) it falls behind, by up to a minute. While a socket
// has carried BUSY_EVENTS in the last BUSY_WINDOW_MS, its status is `busy` and pages
// poll at their normal pace as well.
import { useEffect, useRef, useState } from "react";
import { type EventFilter, type ReceivedEvent, storedApiKey } from "./api";

/** `connecting` until the first subscription is sent; `open` while it holds (`busy` while
 * it carries more events than it can be trusted with); `down` after a failure or close,
 * until a reconnect succeeds. */
export type StreamStatus = "connecting" | "open" | "busy" | "down";

export const RECONNECT_DELAYS_MS = [1000, 2000, 4000, 8000, 15000];
/** A socket that stayed open this long counts as healthy: the next failure retries after
 * the first delay again. */
const HEALTHY_MS = 10_000;
/** How long a socket nobody listens to is kept, so a page re-rendering its hooks (or the
 * next page asking for the same filter) does not reconnect. */
const LINGER_MS = 2000;
export const BUSY_EVENTS = 500;
export const BUSY_WINDOW_MS = 60_000;

interface Listener {
  onEvent: (event: ReceivedEvent) => void;
  onStatus: (status: StreamStatus) => void;
}

/** The flow-run and task-run events of one flow run (its own, and its task runs', which
 * name it as a related resource). */
export function flowRunEvents(flowRunId: string): EventFilter {
  return { any_resource: { id: [`vibepiper.flow-run.${flowRunId}`] } };
}

/** Every flow run's state changes: what run lists and counts show. */
export const FLOW_RUN_EVENTS: EventFilter = { event: { prefix: ["vibepiper.flow-run."] } };

class Channel {
  status: StreamStatus = "connecting";
  readonly listeners = new Set<Listener>();
  private socket: WebSocket | null = null;
  private failures = 0;
  private retryTimer: number | undefined;
  private lingerTimer: number | undefined;
  private closed = false;
  /** When the events of the last BUSY_WINDOW_MS arrived (from index `oldest` on). */
  private arrivals: number[] = [];
  private oldest = 0;
  private busyTimer: number | undefined;

  constructor(readonly key: string, private readonly filter: EventFilter, private readonly apiKey: string | null) {
    this.connect();
  }

  add(listener: Listener): void {
    window.clearTimeout(this.lingerTimer);
    this.listeners.add(listener);
  }

  remove(listener: Listener): void {
    this.listeners.delete(listener);
    if (this.listeners.size === 0) {
      window.clearTimeout(this.lingerTimer);
      this.lingerTimer = window.setTimeout(() => this.close(), LINGER_MS);
    }
  }

  private close(): void {
    if (this.listeners.size > 0) return;
    this.closed = true;
    window.clearTimeout(this.retryTimer);
    window.clearInterval(this.busyTimer);
    channels.delete(this.key);
    const socket = this.socket;
    this.socket = null;
    socket?.close(1000);
  }

  /** Counts an event in; answers whether the socket is busy now. */
  private countArrival(now: number): boolean {
    this.arrivals.push(now);
    return this.recentArrivals(now) >= BUSY_EVENTS;
  }

  private recentArrivals(now: number): number {
    while (this.oldest < this.arrivals.length && this.arrivals[this.oldest] < now - BUSY_WINDOW_MS) {
      this.oldest += 1;
    }
    if (this.oldest > 1000) {
      this.arrivals = this.arrivals.slice(this.oldest);
      this.oldest = 0;
    }
    return this.arrivals.length - this.oldest;
  }

  private setStatus(status: StreamStatus): void {
    if (status === this.status) return;
    this.status = status;
    window.clearInterval(this.busyTimer);
    this.busyTimer = undefined;
    if (status === "busy") {
      // busy until the last window's events fall below the mark
      this.busyTimer = window.setInterval(() => {
        if (this.recentArrivals(Date.now()) < BUSY_EVENTS) this.setStatus("open");
      }, 1000);
    }
    for (const listener of [...this.listeners]) listener.onStatus(status);
  }

  private connect(): void {
    if (this.closed) return;
    const scheme = window.location.protocol === "https:" ? "wss" : "ws";
    let socket: WebSocket;
    try {
      socket = new WebSocket(`${scheme}://${window.location.host}/api/events/out`);
    } catch {
      this.failed(0);
      return;
    }
    this.socket = socket;
    // A browser cannot set a websocket's Authorization header: the key goes in a first
    // message, which only a server with a key expects.
    const withKey = Boolean(this.apiKey) && !keyUnwanted;
    let openedAt = 0;
    const subscribe = () => {
      socket.send(JSON.stringify({ type: "filter", filter: this.filter, backfill: 0 }));
      openedAt = Date.now();
      this.setStatus("open");
    };
    socket.onopen = () => {
      if (withKey) socket.send(JSON.stringify({ type: "auth", token: this.apiKey }));
      else subscribe();
    };
    socket.onmessage = (message: MessageEvent) => {
      let data: { type?: string; event?: ReceivedEvent };
      try {
        data = JSON.parse(String(message.data));
      } catch {
        return;
      }
      if (data.type === "auth_success") subscribe();
      else if (data.type === "event" && data.event) {
        if (this.countArrival(Date.now()) && this.status === "open") this.setStatus("busy");
        for (const listener of [...this.listeners]) listener.onEvent(data.event);
      }
    };
    socket.onclose = (close: CloseEvent) => {
      if (this.socket !== socket) return;
      this.socket = null;
      if (close.code === 1007 && withKey && !openedAt) {
        // a server without a key read our key message as the filter: retry without it
        keyUnwanted = true;
        this.connect();
        return;
      }
      if (close.code === 1008) keyUnwanted = false; // the server wants a key (again)
      this.failed(openedAt);
    };
  }

  private failed(openedAt: number): void {
    if (this.closed) return;
    if (openedAt && Date.now() - openedAt >= HEALTHY_MS) this.failures = 0;
    this.setStatus("down");
    const delay = RECONNECT_DELAYS_MS[Math.min(this.failures, RECONNECT_DELAYS_MS.length - 1)];
    this.failures += 1;
    window.clearTimeout(this.retryTimer);
    this.retryTimer = window.setTimeout(() => this.connect(), delay);
  }
}

const channels = new Map<string, Channel>();
/** Set once the server showed it wants no key (it read the key message as the filter). */
let keyUnwanted = false;

/** Listen to the events matching `filter`: `stop` stops listening, `status` is the
 * stream's status now (`listener.onStatus` hears the next changes). */
export function subscribe(filter: EventFilter, listener: Listener): { stop: () => void; status: StreamStatus } {
  const apiKey = storedApiKey();
  const key = `${apiKey ?? ""}\n${JSON.stringify(filter)}`;
  let channel = channels.get(key);
  if (!channel) {
    channel = new Channel(key, filter, apiKey);
    channels.set(key, channel);
  }
  channel.add(listener);
  const joined = channel;
  return { stop: () => joined.remove(listener), status: joined.status };
}

/** Calls `onEvent` for each event matching `filter` (none when it is null) and `onStatus`
 * when the stream comes up or goes down; answers the stream's status. */
export function useLive(
  filter: EventFilter | null | undefined,
  onEvent: (event: ReceivedEvent) => void,
  onStatus?: (status: StreamStatus) => void,
): StreamStatus {
  const key = filter ? JSON.stringify(filter) : null;
  const [status, setStatus] = useState<StreamStatus>(key === null ? "down" : "connecting");
  const handlers = useRef({ onEvent, onStatus });
  handlers.current = { onEvent, onStatus };
  useEffect(() => {
    if (key === null) {
      setStatus("down");
      return undefined;
    }
    const subscription = subscribe(JSON.parse(key) as EventFilter, {
      onEvent: (event) => handlers.current.onEvent(event),
      onStatus: (next) => {
        setStatus(next);
        handlers.current.onStatus?.(next);
      },
    });
    setStatus(subscription.status);
    return subscription.stop;
  }, [key]);
  return status;
}
