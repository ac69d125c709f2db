// Events: the feed (newest first) with filters by name prefix, resource and time range,
// a histogram of the same events over the range, and "More" for older pages. The URL's
// query string is the filter (see events.ts).
import { type FormEvent, useCallback, useEffect, useRef, useState } from "react";
import { api, type EventCount, type EventPage, type ReceivedEvent } from "../api";
import { Card, countText, Empty, ErrorNote, Pending } from "../components/common";
import { EventHistogram } from "../components/EventHistogram";
import {
  type EventRange, DEFAULT_RANGE, eventsUrl, filterFromQuery, localInput, RANGES, rangeFromQuery,
  resourceId, resourceName, resourcePage, resourceRole,
} from "../events";
import { formatTime } from "../format";
import { usePoll } from "../hooks";
import { Link, navigate, useLocation } from "../router";

export const EVENT_PAGE_SIZE = 50;
const FEED_INTERVAL_MS = 2000;
const HISTOGRAM_INTERVAL_MS = 5000;

export function EventsPage() {
  const { query } = useLocation();
  const key = query.toString();
  const feed = useEventFeed(query, key);
  const histogram = usePoll(() => {
    const range = rangeFromQuery(query);
    return api.post<EventCount[]>("/events/count-by/time", {
      filter: filterFromQuery(query, range), time_unit: range.unit, time_interval: range.interval,
    });
  }, [key], HISTOGRAM_INTERVAL_MS);
  const update = (changes: Record<string, string | null>) => navigate(eventsUrl(query, changes));
  const pick = (bucket: EventCount) => update({ range: null, since: bucket.start_time, until: bucket.end_time });

  return (
    <div className="page">
      <h1>Events</h1>
      <Filters query={query} update={update} />
      <ErrorNote error={feed.error ?? histogram.error} />
      <Card title="Over time" testId="histogram-card"
        actions={<span className="muted" data-testid="histogram-total">
          {countText(histogram.data?.reduce((sum, b) => sum + b.count, 0), histogram.error)} events
        </span>}>
        {histogram.data === undefined ? <Pending error={histogram.error} />
          : <EventHistogram buckets={histogram.data} onPick={pick} />}
      </Card>
      <Card title={`Feed (${countText(feed.total, feed.error)} events)`} testId="event-feed-card">
        {feed.events === undefined ? <Pending error={feed.error} />
          : feed.events.length === 0 ? <Empty>No events match.</Empty>
          : <EventTable events={feed.events} onResource={(id) => update({ resource: id, own: null })} />}
        {feed.next ? (
          <div className="pager">
            <span className="muted" data-testid="feed-shown">
              {feed.events?.length.toLocaleString()} of {countText(feed.total)} shown
            </span>
            <button onClick={feed.more} disabled={feed.loadingMore} data-testid="more-events">More</button>
          </div>
        ) : null}
      </Card>
    </div>
  );
}

interface Feed {
  events: ReceivedEvent[] | undefined;
  total: number | undefined;
  next: string | null;
  error: Error | undefined;
  loadingMore: boolean;
  more: () => void;
}

const newestFirst = (a: ReceivedEvent, b: ReceivedEvent) =>
  b.occurred.localeCompare(a.occurred) || b.id.localeCompare(a.id);

/** The feed: its first page polled, older pages added by `more`. A poll's new events are
 * merged in while its page overlaps what is shown; when it does not (more events arrived
 * than a page holds), the feed restarts from that page, so it never shows a gap. */
function useEventFeed(query: URLSearchParams, key: string): Feed {
  const [events, setEvents] = useState<ReceivedEvent[] | undefined>(undefined);
  const [total, setTotal] = useState<number | undefined>(undefined);
  const [next, setNext] = useState<string | null>(null);
  const [error, setError] = useState<Error | undefined>(undefined);
  const [loadingMore, setLoadingMore] = useState(false);
  const shown = useRef<ReceivedEvent[] | undefined>(undefined);
  const queryRef = useRef(query);
  queryRef.current = query;
  const generation = useRef(0);

  const show = (items: ReceivedEvent[] | undefined) => {
    shown.current = items;
    setEvents(items);
  };

  useEffect(() => {
    const mine = ++generation.current;
    show(undefined);
    setTotal(undefined);
    setNext(null);
    setError(undefined);
    let timer: number | undefined;
    const poll = async () => {
      if (document.visibilityState !== "hidden") {
        try {
          const range: EventRange = rangeFromQuery(queryRef.current);
          const page = await api.post<EventPage>("/events/filter", {
            filter: filterFromQuery(queryRef.current, range), limit: EVENT_PAGE_SIZE,
          });
          if (generation.current !== mine) return;
          const current = shown.current;
          const ids = new Set(current?.map((event) => event.id));
          const last = page.events[page.events.length - 1];
          const pagedFurther = current !== undefined && current.length > EVENT_PAGE_SIZE;
          if (pagedFurther && (!last || ids.has(last.id))) {
            show([...current, ...page.events.filter((event) => !ids.has(event.id))].sort(newestFirst));
          } else {
            show(page.events);
            setNext(page.next_page);
          }
          setTotal(page.total);
          setError(undefined);
        } catch (caught) {
          if (generation.current !== mine) return;
          setError(caught instanceof Error ? caught : new Error(String(caught)));
        }
      }
      if (generation.current === mine) timer = window.setTimeout(poll, FEED_INTERVAL_MS);
    };
    void poll();
    return () => {
      generation.current++;
      window.clearTimeout(timer);
    };
  }, [key]);

  const more = useCallback(() => {
    if (!next) return;
    const mine = generation.current;
    const url = new URL(next, window.location.origin);
    setLoadingMore(true);
    api.get<EventPage>(url.pathname.replace(/^\/api(?=\/)/, "") + url.search)
      .then((page) => {
        if (generation.current !== mine) return;
        const current = shown.current ?? [];
        const ids = new Set(current.map((event) => event.id));
        show([...current, ...page.events.filter((event) => !ids.has(event.id))]);
        setNext(page.next_page);
        setError(undefined);
      })
      .catch((caught: unknown) => setError(caught instanceof Error ? caught : new Error(String(caught))))
      .finally(() => setLoadingMore(false));
  }, [next]);

  return { events, total, next, error, loadingMore, more };
}

function EventTable(props: { events: ReceivedEvent[]; onResource: (id: string) => void }) {
  return (
    <table className="events" data-testid="event-feed">
      <thead>
        <tr><th>Occurred</th><th>Event</th><th>Resource</th><th>Related</th></tr>
      </thead>
      <tbody>
        {props.events.map((event) => {
          const id = resourceId(event.resource);
          const page = resourcePage(event.resource, event.related);
          const name = resourceName(event.resource);
          return (
            <tr key={event.id} data-event-id={event.id} data-event={event.event}>
              <td className="nowrap">{formatTime(event.occurred)}</td>
              <td className="event-name"><Link to={`/events/${event.id}`} className="event-link">{event.event}</Link></td>
              <td>
                {page ? <Link to={page} className="resource-link" title={id}>{name ?? id}</Link>
                  : <span title={id}>{name ?? id}</span>}
                <button type="button" className="link-button" title="Only this resource's events"
                  onClick={() => props.onResource(id)}>filter</button>
                {name ? <div className="muted resource-id">{id}</div> : null}
              </td>
              <td><RelatedChips related={event.related} /></td>
            </tr>
          );
        })}
      </tbody>
    </table>
  );
}

const SHOWN_RELATED = 4;

function RelatedChips(props: { related: ReceivedEvent["related"] }) {
  const shown = props.related.slice(0, SHOWN_RELATED);
  const rest = props.related.length - shown.length;
  return (
    <span className="tags">
      {shown.map((resource, index) => (
        <span key={index} className="tag" title={resourceId(resource)}>
          {resourceRole(resource)}: {resourceName(resource) ?? resourceId(resource)}
        </span>
      ))}
      {rest > 0 ? <span className="muted">+{rest}</span> : null}
    </span>
  );
}

function Filters(props: { query: URLSearchParams; update: (changes: Record<string, string | null>) => void }) {
  const { query, update } = props;
  const [event, setEvent] = useState(query.get("event") ?? "");
  const [resource, setResource] = useState(query.get("resource") ?? "");
  const [since, setSince] = useState(localInput(query.get("since")));
  const [until, setUntil] = useState(localInput(query.get("until")));
  useEffect(() => setEvent(query.get("event") ?? ""), [query.get("event")]); // eslint-disable-line react-hooks/exhaustive-deps
  useEffect(() => setResource(query.get("resource") ?? ""), [query.get("resource")]); // eslint-disable-line react-hooks/exhaustive-deps
  useEffect(() => setSince(localInput(query.get("since"))), [query.get("since")]); // eslint-disable-line react-hooks/exhaustive-deps
  useEffect(() => setUntil(localInput(query.get("until"))), [query.get("until")]); // eslint-disable-line react-hooks/exhaustive-deps
  const custom = Boolean(query.get("since")) || query.get("range") === "custom";
  const iso = (value: string) => (value ? new Date(value).toISOString() : null);
  const submit = (formEvent: FormEvent) => {
    formEvent.preventDefault();
    const changes: Record<string, string | null> = { event: event.trim() || null, resource: resource.trim() || null };
    if (custom) {
      // an input left as shown keeps the URL's exact time (the input shows whole minutes)
      changes.since = since === localInput(query.get("since")) ? query.get("since") : iso(since);
      changes.until = until === localInput(query.get("until")) ? query.get("until") : iso(until);
      changes.range = changes.since ? null : "custom";
    }
    update(changes);
  };
  const pickRange = (value: string) => {
    if (value === "custom") {
      const start = new Date(Date.now() - 86400_000).toISOString();
      update({ range: null, since: start, until: null });
    } else {
      update({ range: value === DEFAULT_RANGE ? null : value, since: null, until: null });
    }
  };
  return (
    <form className="filters" onSubmit={submit} aria-label="Event filters">
      <input type="search" name="event" placeholder="Event name prefix" value={event}
        onChange={(e) => setEvent(e.target.value)} />
      <input type="search" name="resource" placeholder="Resource id (prefix*)" value={resource}
        onChange={(e) => setResource(e.target.value)} />
      <label className="inline" title="Match only the event's own resource, not its related resources">
        <input type="checkbox" name="own" checked={query.get("own") === "1"}
          onChange={(e) => update({ own: e.target.checked ? "1" : null })} />
        exclude related
      </label>
      <select name="range" value={custom ? "custom" : query.get("range") ?? DEFAULT_RANGE}
        onChange={(e) => pickRange(e.target.value)}>
        {Object.entries(RANGES).map(([value, preset]) => <option key={value} value={value}>{preset.label}</option>)}
        <option value="custom">Between…</option>
      </select>
      {custom ? (
        <>
          <input type="datetime-local" name="since" aria-label="From" value={since}
            onChange={(e) => setSince(e.target.value)} />
          <input type="datetime-local" name="until" aria-label="Until (empty: now)" value={until}
            onChange={(e) => setUntil(e.target.value)} />
        </>
      ) : null}
      <button type="submit">Apply</button>
      <button type="button" onClick={() => navigate("/events")}>Clear</button>
    </form>
  );
}
