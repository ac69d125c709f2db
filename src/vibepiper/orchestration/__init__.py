"""The transition rules, once: pure functions used by the embedded store and the server."""

from vibepiper.orchestration.rules import Decision, propose

__all__ = ["Decision", "propose"]
