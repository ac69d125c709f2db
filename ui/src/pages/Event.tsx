// One event: its name and times, its resource with every label, its related resources
// (role and labels), its payload as JSON, and the event it follows.
import { api, type EventPage, type EventResource, RESOURCE_ID, RESOURCE_NAME, RESOURCE_ROLE } from "../api";
import { Card, Empty, ErrorNote, JsonView, Pending } from "../components/common";
import { eventsOfResource, resourceId, resourceName, resourcePage, resourceRole } from "../events";
import { formatTime } from "../format";
import { usePoll } from "../hooks";
import { Link } from "../router";

// The API has no GET /events/{id}: the event is looked up by id over every time.
const EVER = { since: "1970-01-01T00:00:00Z", until: "2999-01-01T00:00:00Z" };

export function EventDetailPage(props: { id: string }) {
  const { id } = props;
  const found = usePoll(
    () => api.post<EventPage>("/events/filter", { filter: { id: { id: [id] }, occurred: EVER }, limit: 1 }),
    [id], null,
  );
  const crumbs = <div className="crumbs"><Link to="/events">Events</Link> / event</div>;
  if (found.data === undefined) {
    return <div className="page">{crumbs}<h1>Event</h1><ErrorNote error={found.error} /><Pending error={found.error} /></div>;
  }
  const event = found.data.events[0];
  if (!event) {
    return (
      <div className="page">{crumbs}<h1>Event</h1>
        <Empty>No event with id {id}: it was never recorded, or retention removed it.</Empty>
      </div>
    );
  }
  const page = resourcePage(event.resource, event.related);
  return (
    <div className="page">
      {crumbs}
      <h1 data-testid="event-name">{event.event}</h1>
      <div className="grid two">
        <Card title="Details">
          <dl className="details" data-testid="event-details">
            <dt>Id</dt><dd><code>{event.id}</code></dd>
            <dt>Occurred</dt><dd data-testid="event-occurred" title={event.occurred}>{formatTime(event.occurred)}</dd>
            <dt>Received</dt><dd title={event.received}>{formatTime(event.received)}</dd>
            <dt>Follows</dt>
            <dd>{event.follows
              ? <Link to={`/events/${event.follows}`} className="follows-link">{event.follows}</Link> : "—"}</dd>
          </dl>
        </Card>
        <Card title="Resource" testId="event-resource"
          actions={<>
            {page ? <Link to={page} className="resource-link">open</Link> : null}
            <Link to={eventsOfResource(resourceId(event.resource), null)} className="resource-events-link">events</Link>
          </>}>
          <Labels resource={event.resource} />
        </Card>
      </div>
      <Card title={`Related resources (${event.related.length})`} testId="event-related">
        {event.related.length === 0 ? <Empty>None.</Empty> : (
          <div className="related-list">
            {event.related.map((resource, index) => <Related key={index} resource={resource} />)}
          </div>
        )}
      </Card>
      <Card title="Payload" testId="event-payload"><JsonView value={event.payload} /></Card>
    </div>
  );
}

function Related(props: { resource: EventResource }) {
  const { resource } = props;
  const page = resourcePage(resource);
  const name = resourceName(resource) ?? resourceId(resource);
  return (
    <div className="related" data-testid="related-resource" data-role={resourceRole(resource)}>
      <div className="related-head">
        <span className="tag role">{resourceRole(resource)}</span>
        {page ? <Link to={page} className="resource-link">{name}</Link> : <strong>{name}</strong>}
      </div>
      <Labels resource={resource} />
    </div>
  );
}

/** Every label: the id, role and name first, then the others by key. */
function Labels(props: { resource: EventResource }) {
  const first = [RESOURCE_ID, RESOURCE_ROLE, RESOURCE_NAME].filter((key) => key in props.resource);
  const rest = Object.keys(props.resource).filter((key) => !first.includes(key)).sort();
  return (
    <table className="labels" data-testid="labels">
      <tbody>
        {[...first, ...rest].map((key) => (
          <tr key={key}><th>{key}</th><td><code className="value">{props.resource[key]}</code></td></tr>
        ))}
      </tbody>
    </table>
  );
}
