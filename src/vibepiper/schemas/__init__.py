"""Records shared by the engine, the stores and (later) the server. No I/O here."""

from vibepiper.schemas.runs import FlowRun, LogRecordRow, TaskRun, TaskRunInput

__all__ = ["FlowRun", "LogRecordRow", "TaskRun", "TaskRunInput"]
