"""The main loop of a task worker process (see `vibepiper.engine.processes`)."""

from __future__ import annotations

import sys


def main() -> None:
    # imported before READY, so a task's timeout does not pay for them
    import cloudpickle  # noqa: F401

    import vibepiper.context
    import vibepiper.engine.threads
    import vibepiper.logging  # noqa: F401
    from vibepiper.engine.processes import READY, read_frame, write_frame
    from vibepiper.engine.remote_call import run_packed_call

    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    # anything the task prints must not corrupt the answer channel
    sys.stdout = sys.stderr
    write_frame(stdout, READY)
    while True:
        frame = read_frame(stdin)
        if frame is None:
            return
        write_frame(stdout, run_packed_call(frame))


if __name__ == "__main__":
    main()
