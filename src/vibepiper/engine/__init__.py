"""The run engine: decisions with no I/O (`policy`), and thin sync/async drivers.

- `task_engine`: the life of one task run (inputs, cache, attempts, retries, hooks).
- `flow_engine`: the life of one flow run (parameters, attempts, subflows, hooks).
- `threads`: the thread pool, deadlines and the background event loop they use.
"""
