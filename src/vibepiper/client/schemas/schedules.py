"""Schedule models at Prefect's path (`prefect.client.schemas.schedules`), for code that
passes them to `flow.serve(schedules=[...])`, `flow.to_deployment(schedule=...)` or the
client: `CronSchedule(cron=..., timezone=...)`, `IntervalSchedule(interval=timedelta(...))`,
`RRuleSchedule(rrule=...)`. They are the API's own models (`vibepiper.schemas.schedules`);
`vibepiper.schedules.Cron/Interval/RRule` say the same more briefly."""

from __future__ import annotations

from vibepiper.schemas.schedules import CronSchedule, IntervalSchedule, RRuleSchedule
from vibepiper.schemas.schedules import Schedule as SCHEDULE_TYPES  # Prefect's name: the union

__all__ = ["SCHEDULE_TYPES", "CronSchedule", "IntervalSchedule", "RRuleSchedule"]
