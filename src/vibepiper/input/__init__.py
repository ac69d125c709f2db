"""Input sent to flow runs while they run (Prefect's `prefect.input`): typed messages
between runs (`send_input`, `receive_input`, `RunInput`), and what a paused run asks of
the person who resumes it. See docs/input.md.

    from vibepiper.input import RunInput, receive_input, send_input
"""

from __future__ import annotations

from vibepiper.input.actions import (
    create_flow_run_input,
    create_flow_run_input_from_model,
    delete_flow_run_input,
    filter_flow_run_input,
    read_flow_run_input,
)
from vibepiper.input.run_input import (
    AutomaticRunInput,
    GetAutomaticInputHandler,
    GetInputHandler,
    Keyset,
    RunInput,
    RunInputMetadata,
    asend_input,
    keyset_from_base_key,
    keyset_from_paused_state,
    receive_input,
    run_input_subclass_from_type,
    send_input,
)

__all__ = [
    "AutomaticRunInput",
    "GetAutomaticInputHandler",
    "GetInputHandler",
    "Keyset",
    "RunInput",
    "RunInputMetadata",
    "asend_input",
    "create_flow_run_input",
    "create_flow_run_input_from_model",
    "delete_flow_run_input",
    "filter_flow_run_input",
    "keyset_from_base_key",
    "keyset_from_paused_state",
    "read_flow_run_input",
    "receive_input",
    "run_input_subclass_from_type",
    "send_input",
]
