"""Telemetry of runs for the tools operators already use (see `docs/observability.md`).

`tracing`: OpenTelemetry spans for flow and task runs, exported over OTLP when the
standard `OTEL_EXPORTER_OTLP_*` variables are set. Nothing here imports OpenTelemetry
until a run finds tracing switched on.
"""
