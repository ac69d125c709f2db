"""Triggers of automations (issue 16): which resources and events a trigger watches,
and when it fires, with Prefect 3's names, JSON shapes and rules.

Spelling: a label key, a `vibepiper.resource.id` value, an event name or a `for_each`
label beginning `prefect.` is read as `vibepiper.` (`canonical`).

Matching follows Prefect. In a `ResourceSpecification` every label named must hold one
of its values: `value*` is a prefix, `*` any value, `!value` (or `!value*`) anything
else, a list any one of its items; a label the resource lacks never matches, not even a
negated value. An event name in `expect` or `after` is exact or ends in `*` (a prefix).
The event-matching logic lives in `vibepiper.orchestration.trigger_match`.

Where this differs from Prefect, and why:
- `MetricTrigger` is evaluated by our server (Prefect runs it only on Cloud); its
  `range` is 5 minutes to 30 days (Prefect: at least 5 minutes) and `firing_for` 0 to 7
  days (Prefect: at least 5 minutes), so a dry run or a test can fire on the first
  breach; `successes` thresholds are a rate in 0..1.
- Every trigger has an `id` (Prefect's server gives one too), so the evaluator can tell
  the triggers of a compound or sequence apart; a trigger sent without one gets one.
- Triggers refuse unknown fields (Prefect's ignore them): a misspelt `expect` must be an
  error, not a trigger matching every event. A `!` opening an event name, or a `*` other
  than at its end, is refused too (Prefect would never match it).
- Bounds, so a stored automation cannot overflow the evaluator: `threshold` >= 1,
  windows up to 365 days, 100 triggers nested at most 8 deep.
"""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    PrivateAttr,
    RootModel,
    Tag,
    field_serializer,
    model_validator,
)

from vibepiper.schemas.api import MAX_INT, check_storable
from vibepiper.schemas.events import (
    MAX_LABELS_PER_RESOURCE,
    Resource,
    canonical,
    canonical_labels,
)

__all__ = [
    "MAX_TRIGGERS",
    "MAX_TRIGGER_DEPTH",
    "MAX_WINDOW",
    "PROACTIVE_MIN_WITHIN",
    "CompoundTrigger",
    "EventTrigger",
    "MetricName",
    "MetricTrigger",
    "MetricTriggerOperator",
    "MetricTriggerQuery",
    "Posture",
    "ResourceSpecification",
    "SequenceTrigger",
    "TriggerTypes",
]

ID_LABEL = "vibepiper.resource.id"

MAX_WINDOW = dt.timedelta(days=365)
"""Longest `within` (and `schedule_after`) accepted."""
PROACTIVE_MIN_WITHIN = dt.timedelta(seconds=10)
"""A Proactive trigger watches at least this long (Prefect's minimum and default)."""
MAX_TRIGGERS = 100
"""Most triggers one automation holds, composites and their children counted."""
MAX_TRIGGER_DEPTH = 8
"""Deepest nesting of composite triggers."""
MAX_RELATED_SPECS = 50
MAX_LABEL_VALUES = 1000


# --- resource specifications ------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class _LabelTest:
    key: str
    exact: frozenset[str]
    prefixes: tuple[str, ...]
    not_exact: tuple[str, ...]
    not_prefixes: tuple[str, ...]

    def holds(self, value: str | None) -> bool:
        if value is None:
            return False
        if value in self.exact or value.startswith(self.prefixes):
            return True
        return any(value != item for item in self.not_exact) or any(
            not value.startswith(prefix) for prefix in self.not_prefixes
        )


def _label_test(key: str, wanted: str | list[str]) -> _LabelTest:
    exact: set[str] = set()
    prefixes: list[str] = []
    not_exact: list[str] = []
    not_prefixes: list[str] = []
    for item in [wanted] if isinstance(wanted, str) else wanted:
        negated = item.startswith("!")
        text = item[1:] if negated else item
        if text.endswith("*"):
            (not_prefixes if negated else prefixes).append(text[:-1])
        elif negated:
            not_exact.append(text)
        else:
            exact.add(text)
    return _LabelTest(key, frozenset(exact), tuple(prefixes), tuple(not_exact), tuple(not_prefixes))


def _canonical_id_value(item: Any) -> Any:
    if not isinstance(item, str):
        return item
    return "!" + canonical(item[1:]) if item.startswith("!") else canonical(item)


class ResourceSpecification(RootModel[dict[str, str | list[str]]]):
    """Which resources: each label named must hold one of its values (`x*` a prefix,
    `*` any value, `!x` anything but x, a list any of its items). Empty: every resource.
    """

    _tests: tuple[_LabelTest, ...] | None = PrivateAttr(default=None)

    @model_validator(mode="before")
    @classmethod
    def _canonical(cls, value: Any) -> Any:
        if not isinstance(value, Mapping):
            return value
        result: dict[Any, Any] = {}
        for key, wanted in value.items():
            if not isinstance(key, str):
                return value
            label = canonical(key)
            if label in result:
                raise ValueError(f"the label {label} is given twice")
            if label == ID_LABEL:
                wanted = (
                    [_canonical_id_value(item) for item in wanted]
                    if isinstance(wanted, list)
                    else _canonical_id_value(wanted)
                )
            result[label] = wanted
        return result

    @model_validator(mode="after")
    def _bounds(self) -> Self:
        if len(self.root) > MAX_LABELS_PER_RESOURCE:
            raise ValueError(f"at most {MAX_LABELS_PER_RESOURCE} labels may be given")
        for key, wanted in self.root.items():
            if not key:
                raise ValueError("a label must be non-empty")
            if isinstance(wanted, list) and len(wanted) > MAX_LABEL_VALUES:
                raise ValueError(f"the label {key} lists more than {MAX_LABEL_VALUES} values")
        check_storable(self.root)
        # compiled here rather than on first use, so specifications equal by value stay
        # equal (pydantic compares private attributes too)
        self._tests = self._compile()
        return self

    def _compile(self) -> tuple[_LabelTest, ...]:
        return tuple(_label_test(key, wanted) for key, wanted in self.root.items())

    def _compiled(self) -> tuple[_LabelTest, ...]:
        if self._tests is None:
            self._tests = self._compile()
        return self._tests

    def matches(self, labels: Mapping[str, str] | Resource) -> bool:
        """Whether a resource with these labels is one this specification names
        (`prefect.` keys are read as `vibepiper.`)."""
        found = labels.root if isinstance(labels, Resource) else canonical_labels(labels)
        return all(test.holds(found.get(test.key)) for test in self._compiled())

    def label_matcher(self) -> Callable[[Mapping[str, str]], bool]:
        """`matches` as a function of labels already canonical (a `Resource`'s `root`),
        for loops over many events."""
        tests = self._compiled()

        def matcher(labels: Mapping[str, str]) -> bool:
            # a plain loop: this runs for every event a trigger sees
            for test in tests:  # noqa: SIM110
                if not test.holds(labels.get(test.key)):
                    return False
            return True

        return matcher

    def includes(self, resources: Iterable[Mapping[str, str] | Resource]) -> bool:
        """True when this specification is empty or names one of `resources`."""
        if not self.root:
            return True
        return any(self.matches(resource) for resource in resources)

    def matches_every_resource(self) -> bool:
        """True when this is empty."""
        return not self.root

    def matches_every_resource_of_kind(self, kind: str) -> bool:
        """True when this names every resource, or every resource whose id starts with
        `kind.` and nothing narrower (Prefect's test before running deployments)."""
        if not self.root:
            return True
        if set(self.root) != {ID_LABEL}:
            return False
        wanted = self.root[ID_LABEL]
        items = [wanted] if isinstance(wanted, str) else wanted
        return f"{canonical(kind)}.*" in items


def _everything() -> ResourceSpecification:
    return ResourceSpecification({})


# --- triggers ---------------------------------------------------------------------------
class Posture(enum.StrEnum):
    """How a trigger reads events: their presence, their absence, or a metric."""

    Reactive = "Reactive"
    Proactive = "Proactive"
    Metric = "Metric"


def _event_name(value: str) -> str:
    if value.startswith("!"):
        raise ValueError(f"event names cannot be negated with `!` ({value!r})")
    if "*" in value[:-1]:
        raise ValueError(
            f"`*` may only end an event name, as in `vibepiper.flow-run.*` ({value!r})"
        )
    return canonical(value)


def _for_each_label(value: str) -> str:
    if value.startswith("related:"):
        head, _, label = value.rpartition(":")
        if head == "related" or not label:
            raise ValueError(
                f"a related resource's label is written related:<role>:<label> ({value!r})"
            )
        return f"{head}:{canonical(label)}"
    return canonical(value)


EventName = Annotated[str, Field(min_length=1, max_length=1024), AfterValidator(_event_name)]
ForEachLabel = Annotated[str, Field(min_length=1, max_length=1024), AfterValidator(_for_each_label)]
Window = Annotated[dt.timedelta, Field(ge=dt.timedelta(0), le=MAX_WINDOW)]
RelatedSpecs = Annotated[list[ResourceSpecification], Field(max_length=MAX_RELATED_SPECS)]


class _Trigger(BaseModel):
    model_config = ConfigDict(extra="forbid", ser_json_timedelta="float")

    type: str
    id: uuid.UUID = Field(default_factory=uuid.uuid4, description="Given when left out.")

    def all_triggers(self) -> list[_Trigger]:
        """This trigger, then every trigger nested in it, depth first."""
        return [self]


class _ResourceTrigger(_Trigger):
    match: ResourceSpecification = Field(
        default_factory=_everything, description="Labels of the resources this trigger covers."
    )
    match_related: ResourceSpecification | RelatedSpecs = Field(
        default_factory=_everything,
        description="Labels of related resources: each specification given must name one "
        "of the event's related resources.",
    )

    def related_specifications(self) -> list[ResourceSpecification]:
        """`match_related` as a list, empty specifications left out."""
        specs = self.match_related if isinstance(self.match_related, list) else [self.match_related]
        return [spec for spec in specs if spec.root]


class EventTrigger(_ResourceTrigger):
    """Fires on the presence (Reactive) or absence (Proactive) of events."""

    type: Literal["event"] = "event"
    after: set[EventName] = Field(
        default_factory=set, description="Events that must be seen first; `*` ends a prefix."
    )
    expect: set[EventName] = Field(
        default_factory=set, description="Events this trigger counts (empty: every event)."
    )
    for_each: set[ForEachLabel] = Field(
        default_factory=set,
        description="Count separately for each value of these labels of the resource, or "
        "`related:<role>:<label>` of the first related resource in that role.",
    )
    posture: Literal[Posture.Reactive, Posture.Proactive] = Posture.Reactive
    threshold: Annotated[int, Field(ge=1, le=MAX_INT)] = Field(
        default=1, description="Events needed to fire (Reactive), or expected (Proactive)."
    )
    within: Window = Field(
        default=dt.timedelta(0),
        description="The window the events must fall in; Proactive: at least 10 seconds.",
    )

    @model_validator(mode="after")
    def _proactive_window(self) -> Self:
        if self.posture is Posture.Proactive:
            if not self.within:
                self.within = PROACTIVE_MIN_WITHIN
            elif self.within < PROACTIVE_MIN_WITHIN:
                raise ValueError(
                    "`within` for Proactive triggers must be greater than or equal to 10 seconds"
                )
        return self

    @field_serializer("after", "expect", "for_each", when_used="json")
    def _sorted(self, value: set[str]) -> list[str]:
        return sorted(value)


class MetricName(enum.StrEnum):
    """What a metric trigger measures over the matching flow runs."""

    duration = "duration"
    """Seconds from start to end of the runs that finished in the range."""
    lateness = "lateness"
    """Seconds the runs started after they were expected to."""
    successes = "successes"
    """The share (0..1) of runs that finished in the range that completed."""


class MetricTriggerOperator(enum.StrEnum):
    """How a metric is compared with its threshold."""

    LT = "<"
    LTE = "<="
    GT = ">"
    GTE = ">="

    def compare(self, value: float, threshold: float) -> bool:
        """Whether `value <op> threshold` holds (the metric breaches)."""
        if self is MetricTriggerOperator.LT:
            return value < threshold
        if self is MetricTriggerOperator.LTE:
            return value <= threshold
        if self is MetricTriggerOperator.GT:
            return value > threshold
        return value >= threshold


class MetricTriggerQuery(BaseModel):
    """A metric, a comparison that breaches, the range it is measured over, and how long
    it must breach before the trigger fires (it resolves at the first measurement that
    no longer breaches)."""

    model_config = ConfigDict(extra="forbid", ser_json_timedelta="float")

    name: MetricName
    threshold: float = Field(allow_inf_nan=False)
    operator: MetricTriggerOperator
    range: Annotated[dt.timedelta, Field(ge=dt.timedelta(minutes=5), le=dt.timedelta(days=30))] = (
        Field(default=dt.timedelta(minutes=5), description="Lookback: 5 minutes to 30 days.")
    )
    firing_for: Annotated[dt.timedelta, Field(ge=dt.timedelta(0), le=dt.timedelta(days=7))] = Field(
        default=dt.timedelta(minutes=5),
        description="How long the breach must last: 0 to 7 days.",
    )

    @model_validator(mode="after")
    def _threshold_range(self) -> Self:
        if self.name is MetricName.successes and not 0 <= self.threshold <= 1:
            raise ValueError("`threshold` of the successes metric is a rate from 0 to 1")
        if self.name is not MetricName.successes and self.threshold < 0:
            raise ValueError(f"`threshold` of the {self.name} metric is seconds, at least 0")
        return self


class MetricTrigger(_ResourceTrigger):
    """Fires while a metric of the matching flow runs breaches its threshold."""

    type: Literal["metric"] = "metric"
    posture: Literal[Posture.Metric] = Posture.Metric
    metric: MetricTriggerQuery


def _shape(trigger: _Trigger) -> tuple[int, int]:
    """(depth, number of triggers) of `trigger`."""
    if isinstance(trigger, _CompositeTrigger):
        shapes = [_shape(child) for child in trigger.triggers]
        return 1 + max(depth for depth, _ in shapes), 1 + sum(count for _, count in shapes)
    return 1, 1


class _CompositeTrigger(_Trigger):
    triggers: Annotated[list[TriggerTypes], Field(min_length=1, max_length=MAX_TRIGGERS)]
    within: Window | None = None

    @model_validator(mode="after")
    def _size(self) -> Self:
        depth, count = _shape(self)
        if depth > MAX_TRIGGER_DEPTH:
            raise ValueError(f"`triggers` are nested more than {MAX_TRIGGER_DEPTH} deep")
        if count > MAX_TRIGGERS:
            raise ValueError(f"`triggers` hold more than {MAX_TRIGGERS} triggers in all")
        return self

    def all_triggers(self) -> list[_Trigger]:
        return [self, *(found for child in self.triggers for found in child.all_triggers())]


class CompoundTrigger(_CompositeTrigger):
    """Fires when `require` of its triggers (a number, "any" or "all") have fired within
    `within` of each other."""

    type: Literal["compound"] = "compound"
    require: Annotated[int, Field(le=MAX_INT)] | Literal["any", "all"]

    @model_validator(mode="after")
    def _require(self) -> Self:
        if isinstance(self.require, int):
            if self.require < 1:
                raise ValueError("`require` must be at least 1")
            if self.require > len(self.triggers):
                raise ValueError(
                    f"`require` ({self.require}) must be less than or equal to the number "
                    f"of triggers ({len(self.triggers)})"
                )
        return self

    @property
    def num_expected_firings(self) -> int:
        if self.require == "any":
            return 1
        if self.require == "all":
            return len(self.triggers)
        return self.require


class SequenceTrigger(_CompositeTrigger):
    """Fires when its triggers have fired in order, within `within`."""

    type: Literal["sequence"] = "sequence"


def _trigger_kind(value: Any) -> Any:
    # Prefect's client lets `type` be left out: a composite by its fields, else an event
    if isinstance(value, Mapping):
        if "type" in value:
            return value["type"]
        if "triggers" in value:
            return "compound" if "require" in value else "sequence"
        if value.get("posture") == Posture.Metric or "metric" in value:
            return "metric"
        return "event"
    return getattr(value, "type", None)


TriggerTypes = Annotated[
    Annotated[EventTrigger, Tag("event")]
    | Annotated[MetricTrigger, Tag("metric")]
    | Annotated[CompoundTrigger, Tag("compound")]
    | Annotated[SequenceTrigger, Tag("sequence")],
    Discriminator(_trigger_kind),
]
"""Any trigger an automation may have, told apart by `type`."""

CompoundTrigger.model_rebuild()
SequenceTrigger.model_rebuild()
