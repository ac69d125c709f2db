"""The process-wide store, opened on first use and flushed at exit."""

from __future__ import annotations

import atexit
import threading

from vibepiper.store.base import RunStore

_lock = threading.Lock()
_store: RunStore | None = None
_signal_exit = False


def get_store() -> RunStore:
    """The store this process records runs in (opened on first call)."""
    global _store
    store = _store
    if store is not None:
        return store
    with _lock:
        if _store is None:
            _store = _open_default_store()
        return _store


def current_store() -> RunStore | None:
    """The store this process opened, if any (opens none)."""
    return _store


def set_store(store: RunStore | None) -> RunStore | None:
    """Replace the process-wide store (tests, embedding); returns the previous one."""
    global _store
    with _lock:
        previous, _store = _store, store
    return previous


def reset_store() -> None:
    """Flush and close the current store; the next `get_store()` opens a new one."""
    previous = set_store(None)
    if previous is not None:
        previous.close()


def _open_default_store() -> RunStore:
    from vibepiper.settings import get_settings

    settings = get_settings()
    if settings.api_url:
        from vibepiper.store.api import ApiStore

        return ApiStore(settings.api_url, api_key=settings.api_key)
    if settings.home_is_memory:
        from vibepiper.store.memory import MemoryStore

        return MemoryStore()
    from vibepiper.store.embedded import EmbeddedStore

    return EmbeddedStore(settings.database_path)


def mark_signal_exit() -> None:
    """This process is stopping because of a signal (SIGTERM, Ctrl-C): at exit the store
    waits for an unreachable server only briefly (`ApiStore.close`), so the process
    stops within a couple of seconds whatever the server does."""
    global _signal_exit
    _signal_exit = True


def exiting_on_signal() -> bool:
    """Whether `mark_signal_exit` was called in this process."""
    return _signal_exit


@atexit.register
def _close_at_exit() -> None:
    store = _store
    if store is None:
        return
    try:
        if _signal_exit and hasattr(store, "close_after_signal"):
            store.close_after_signal()
        else:
            store.close()
    except Exception:  # pragma: no cover - exit must not raise
        pass
