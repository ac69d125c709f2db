"""Where runs are recorded: the RunStore protocol and its backends.

`get_store()` returns the process-wide store: the embedded SQLite store under
`$VIBEPIPER_HOME` by default.
"""

from vibepiper.store.base import RunStore, StoreBase
from vibepiper.store.registry import get_store, reset_store, set_store

__all__ = ["RunStore", "StoreBase", "get_store", "reset_store", "set_store"]
