"""The Events pages in a real Chromium, over events sent to a real server with
`POST /api/events` and the state-change events of a real flow run: the feed newest first,
its filters and "More", the histogram, an event's page, hostile text shown as text, and
the link from a flow run's page to its events."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import expect

from tests.client.conftest import Server
from tests.ui.conftest import Recorder, Tab, api

pytestmark = pytest.mark.slow

SCRIPT = "<script>window.__pwned = 1</script>"
IMG = '<img src=x onerror="window.__pwned = 2">'
BULK = 60


def at(minutes_ago: float) -> str:
    """A time that long before now (now, not at import: a long test run would push
    events made from an import-time clock out of the page's last-hour range)."""
    return (dt.datetime.now(dt.UTC) - dt.timedelta(minutes=minutes_ago)).isoformat()


def event(name: str, resource: dict[str, str], minutes_ago: float, **extra: Any) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "event": name,
        "resource": resource,
        "occurred": at(minutes_ago),
        **extra,
    }


def post_events(server: Server, events: list[dict[str, Any]]) -> None:
    with api(server) as client:
        answer = client.post("/events", json=events)
        assert answer.status_code == 204, answer.text


def feed_ids(server: Server, **spec: Any) -> list[str]:
    """The ids the API lists for a filter over the last hour, newest first."""
    body = {"filter": {"occurred": {"since": at(60)}, **spec}, "limit": 200}
    with api(server) as client:
        answer = client.post("/events/filter", json=body)
        assert answer.status_code == 200, answer.text
        return [item["id"] for item in answer.json()["events"]]


@pytest.fixture(scope="module")
def seeded(recorder: Recorder, ui_server: Server) -> dict[str, Any]:
    """A finished flow run (its state events), and events sent through the API: an order
    created then shipped (following it, related to the run), another order, an event
    carrying markup in a label and its payload, and a bulk of events for paging."""
    run_id = recorder.run("etl", "2")
    created = event(
        "ui.order.created", {"vibepiper.resource.id": "ui.order.1"}, 5, payload={"n": 1}
    )
    shipped = event(
        "ui.order.shipped",
        {
            "vibepiper.resource.id": "ui.order.1",
            "vibepiper.resource.name": "order one",
            "shop": "north",
        },
        4,
        follows=created["id"],
        related=[
            {
                "vibepiper.resource.id": f"vibepiper.flow-run.{run_id}",
                "vibepiper.resource.role": "flow-run",
                "vibepiper.resource.name": "the shipping run",
            },
            {
                "vibepiper.resource.id": "ui.carrier.fast",
                "vibepiper.resource.role": "carrier",
                "speed": "2d",
            },
        ],
        payload={"parcel": {"weight_kg": 2.5, "items": ["book", "lamp"]}},
    )
    other = event("ui.order.created", {"vibepiper.resource.id": "ui.order.2"}, 3)
    hostile = event(
        "ui.hostile",
        {"vibepiper.resource.id": "ui.hostile.1", "note": SCRIPT},
        2,
        related=[
            {"vibepiper.resource.id": "ui.x", "vibepiper.resource.role": "victim", "bio": IMG}
        ],
        payload={"html": SCRIPT, "img": IMG},
    )
    bulk = [
        event("ui.bulk.tick", {"vibepiper.resource.id": f"ui.bulk.{n}"}, 30 + n / 10)
        for n in range(BULK)
    ]
    post_events(ui_server, [created, shipped, other, hostile, *bulk])
    return {
        "run": run_id,
        "created": created,
        "shipped": shipped,
        "other": other,
        "hostile": hostile,
    }


def shown_ids(tab: Tab) -> list[str]:
    rows = tab.page.get_by_test_id("event-feed").locator("tbody tr")
    return [rows.nth(i).get_attribute("data-event-id") or "" for i in range(rows.count())]


def expect_bar_total(tab: Tab, total: int) -> None:
    """The histogram, once loaded, says `total` and its bars add up to it (it loads apart
    from the feed: the bars are read only after the total shows)."""
    expect(tab.page.get_by_test_id("histogram-total")).to_have_text(f"{total:,} events")
    bars = tab.page.get_by_test_id("histogram-bar")
    counts = [int(bars.nth(i).get_attribute("data-count") or "0") for i in range(bars.count())]
    assert sum(counts) == total, counts


def test_the_feed_lists_api_and_run_events_newest_first_with_a_matching_histogram(
    tab: Tab, seeded: dict[str, Any], ui_server: Server
) -> None:
    page = tab.open("/events?range=1h")
    feed = page.get_by_test_id("event-feed")
    expected = feed_ids(ui_server)
    run_events = feed_ids(
        ui_server, resource={"id": [f"vibepiper.flow-run.{seeded['run']}"]}, order="ASC"
    )
    # the run's own state changes were recorded by the server as events
    assert len(run_events) >= 3
    expect(feed.locator("tbody tr")).to_have_count(50)
    shown = shown_ids(tab)
    assert shown == expected[:50]
    # newest first: the run's events (just recorded), then the API's by their `occurred`
    order = [shown.index(seeded[k]["id"]) for k in ("hostile", "other", "shipped", "created")]
    assert order == sorted(order)
    assert max(shown.index(i) for i in run_events) < order[0]
    expect(page.get_by_test_id("event-feed-card")).to_contain_text(f"Feed ({len(expected)} events)")
    first = feed.locator("tbody tr").first
    expect(first).to_have_attribute("data-event", re.compile(r"^vibepiper\.(flow|task)-run\."))
    # a run's resource id links to its page (the parent's and the subflow's)
    completed = feed.locator("tr[data-event='vibepiper.flow-run.Completed'] a.resource-link")
    expect(completed).to_have_count(2)
    expect(completed.and_(page.locator(f"[href='/runs/{seeded['run']}']"))).to_have_count(1)

    # the histogram counts the same events over the range
    expect_bar_total(tab, len(expected))

    # "More" loads the next page, and no event twice
    page.get_by_test_id("more-events").click()
    expect(feed.locator("tbody tr")).to_have_count(len(expected))
    assert shown_ids(tab) == expected
    expect(page.get_by_test_id("more-events")).to_have_count(0)
    assert tab.errors == []


def test_name_prefix_and_resource_filters_narrow_the_feed_and_the_histogram(
    tab: Tab, seeded: dict[str, Any]
) -> None:
    page = tab.open("/events?range=1h")
    feed = page.get_by_test_id("event-feed")
    expect(feed.locator("tbody tr").first).to_be_visible()

    page.locator("input[name='event']").fill("ui.order.")
    page.locator("input[name='event']").press("Enter")
    expect(page).to_have_url(re.compile(r"event=ui\.order\."))
    expect(feed.locator("tbody tr")).to_have_count(3)
    assert shown_ids(tab) == [seeded[k]["id"] for k in ("other", "shipped", "created")]
    expect(page.get_by_test_id("histogram-bar")).to_have_count(3)
    expect_bar_total(tab, 3)

    page.locator("input[name='resource']").fill("ui.order.1")
    page.locator("button[type='submit']").click()
    expect(feed.locator("tbody tr")).to_have_count(2)
    assert shown_ids(tab) == [seeded["shipped"]["id"], seeded["created"]["id"]]
    expect_bar_total(tab, 2)

    # a resource id prefix, with the name filter cleared
    page.goto(tab.base + "/events?range=1h&resource=ui.bulk.*")
    expect(feed.locator("tbody tr")).to_have_count(50)
    expect(page.get_by_test_id("event-feed-card")).to_contain_text(f"Feed ({BULK} events)")
    expect(page.get_by_test_id("histogram-total")).to_have_text(f"{BULK} events")

    # a click on a bar narrows the time range to its bucket
    page.goto(tab.base + "/events?range=1h&event=ui.order.")
    bar = page.get_by_test_id("histogram-bar").first
    count = int(bar.get_attribute("data-count") or "0")
    bar.click()
    expect(page).to_have_url(re.compile(r"since=.*until="))
    expect(feed.locator("tbody tr")).to_have_count(count)
    expect(page.locator("input[name='since']")).to_be_visible()
    expect_bar_total(tab, count)

    # two prefixes at once: the flow runs' state changes and the orders
    page.goto(tab.base + "/events?range=1h&event=vibepiper.flow-run.,ui.order.")
    expect(feed.locator("tr[data-event^='vibepiper.flow-run.']")).to_have_count(6)
    expect(feed.locator("tbody tr")).to_have_count(6 + 3)
    expect_bar_total(tab, 9)
    tab.screenshot("events")

    # nothing matching: an empty feed and no bar
    page.goto(tab.base + "/events?range=1h&event=ui.nothing.")
    expect(page.get_by_text("No events match.")).to_be_visible()
    expect(page.get_by_test_id("histogram-total")).to_have_text("0 events")
    expect(page.get_by_test_id("histogram-bar")).to_have_count(0)


def test_an_event_page_shows_its_payload_resource_and_related_resources(
    tab: Tab, seeded: dict[str, Any]
) -> None:
    shipped, created = seeded["shipped"], seeded["created"]
    page = tab.open("/events?range=1h&event=ui.order.shipped")
    page.locator(f"tr[data-event-id='{shipped['id']}'] a.event-link").click()
    expect(page).to_have_url(re.compile(f"/events/{shipped['id']}$"))
    expect(page.get_by_test_id("event-name")).to_have_text("ui.order.shipped")
    resource = page.get_by_test_id("event-resource")
    expect(resource).to_contain_text("ui.order.1")
    expect(resource).to_contain_text("order one")
    expect(resource.locator("tr", has_text="shop")).to_contain_text("north")
    related = page.get_by_test_id("related-resource")
    expect(related).to_have_count(2)
    run = page.locator("[data-testid=related-resource][data-role='flow-run']")
    expect(run).to_contain_text("the shipping run")
    expect(run.locator("a.resource-link")).to_have_attribute("href", f"/runs/{seeded['run']}")
    carrier = page.locator("[data-testid=related-resource][data-role='carrier']")
    expect(carrier.locator("tr", has_text="speed")).to_contain_text("2d")
    payload = page.get_by_test_id("event-payload").locator(".json")
    expect(payload).to_contain_text('"weight_kg": 2.5')
    expect(payload).to_contain_text('"lamp"')
    tab.screenshot("event")

    page.locator("a.follows-link").click()
    expect(page).to_have_url(re.compile(f"/events/{created['id']}$"))
    expect(page.get_by_test_id("event-name")).to_have_text("ui.order.created")
    expect(page.get_by_test_id("event-payload")).to_contain_text('"n": 1')
    expect(page.get_by_test_id("event-related")).to_contain_text("None.")

    page.goto(f"{tab.base}/events/{uuid.uuid4()}")
    expect(page.get_by_text("it was never recorded, or retention removed it")).to_be_visible()


def test_markup_in_labels_and_payloads_is_shown_as_text_and_never_runs(
    tab: Tab, seeded: dict[str, Any]
) -> None:
    console: list[str] = []
    tab.page.on("console", lambda message: console.append(f"{message.type}: {message.text}"))
    hostile = seeded["hostile"]
    page = tab.open("/events?range=1h&event=ui.hostile")
    expect(page.get_by_test_id("event-feed").locator("tbody tr")).to_have_count(1)
    expect(page.get_by_test_id("event-feed")).to_contain_text("victim: ui.x")
    page.goto(f"{tab.base}/events/{hostile['id']}")
    expect(page.get_by_test_id("event-resource").locator("tr", has_text="note")).to_contain_text(
        SCRIPT
    )
    expect(page.get_by_test_id("related-resource")).to_contain_text(IMG)
    payload = page.get_by_test_id("event-payload")
    expect(payload).to_contain_text("<script>window.__pwned = 1</script>")
    expect(payload).to_contain_text("onerror")
    assert page.locator("main script").count() == 0
    assert page.locator("main img").count() == 0
    assert page.evaluate("window.__pwned") is None
    assert tab.dialogs == [] and tab.errors == []
    assert [line for line in console if line.startswith("error")] == []


def test_a_flow_run_page_links_to_its_events_and_they_link_back(
    tab: Tab, seeded: dict[str, Any], ui_server: Server
) -> None:
    run_id = seeded["run"]
    page = tab.open(f"/runs/{run_id}")
    page.locator("a.run-events-link").click()
    expect(page).to_have_url(re.compile(rf"/events\?resource=vibepiper\.flow-run\.{run_id}&since="))
    since = parse_qs(urlsplit(page.url).query)["since"][0]
    # the run's events and its task runs' events (related to the run), from its creation
    expected = feed_ids(
        ui_server, any_resource={"id": [f"vibepiper.flow-run.{run_id}"]}, occurred={"since": since}
    )
    feed = page.get_by_test_id("event-feed")
    expect(feed.locator("tbody tr")).to_have_count(len(expected))
    assert shown_ids(tab) == expected
    expect(feed.locator("tr[data-event='vibepiper.flow-run.Running']")).to_have_count(1)
    expect(feed.locator("tr[data-event^='vibepiper.task-run.']").first).to_be_visible()
    expect_bar_total(tab, len(expected))

    # only the run's own events
    page.locator("input[name='own']").check()
    own = feed_ids(ui_server, resource={"id": [f"vibepiper.flow-run.{run_id}"]})
    expect(feed.locator("tbody tr")).to_have_count(len(own))
    assert len(own) < len(expected)

    # a task run's event leads to its flow run's page
    page.locator("input[name='own']").uncheck()
    task_row = feed.locator("tr[data-event^='vibepiper.task-run.']").first
    task_row.locator("a.resource-link").click()
    expect(page).to_have_url(re.compile(f"/runs/{run_id}$"))
    expect(page.get_by_test_id("run-name")).to_be_visible()


def test_placeholders_until_the_api_answers_and_the_error_when_it_fails(
    tab: Tab, seeded: dict[str, Any]
) -> None:
    held: list[Any] = []
    tab.page.route("**/api/events/**", lambda route: held.append(route))
    page = tab.open("/events")
    expect(page.get_by_test_id("loading")).to_have_count(2)
    expect(page.get_by_test_id("event-feed-card")).to_contain_text("Feed (… events)")
    expect(page.get_by_test_id("histogram-total")).to_have_text("… events")
    while len(held) < 2:  # the feed's and the histogram's first requests
        page.wait_for_timeout(20)
    for route in list(held):
        route.fulfill(status=503, json={"detail": "the events table is locked"})
    expect(page.get_by_role("alert")).to_have_text("the events table is locked")
    expect(page.get_by_test_id("load-failed")).to_have_count(2)
    expect(page.get_by_test_id("histogram-total")).to_have_text("— events")
    tab.page.unroute("**/api/events/**")  # which lets through the polls held since
    # the next poll succeeds: the feed and the histogram come back
    expect(page.get_by_test_id("event-feed").locator("tbody tr").first).to_be_visible()
    expect(page.get_by_role("alert")).to_have_count(
        0, timeout=10_000
    )  # the histogram polls every 5 s

    held.clear()
    tab.page.route("**/api/events/filter", lambda route: held.append(route))
    page.goto(f"{tab.base}/events/{seeded['created']['id']}")
    expect(page.get_by_test_id("loading")).to_be_visible()
    while not held:
        page.wait_for_timeout(20)
    for route in list(held):
        route.fulfill(status=500, json={"detail": "boom"})
    tab.page.unroute("**/api/events/filter")
    expect(page.get_by_role("alert")).to_have_text("boom")
    expect(page.get_by_test_id("load-failed")).to_be_visible()
