"""Concurrency and rate limits that hold across every process sharing a store.

`vibepiper.concurrency.sync` and `vibepiper.concurrency.asyncio` hold the context
managers users call (`concurrency`, `rate_limit`), with Prefect 3's names. Limits are
created with `vibepiper global-concurrency-limit create` (or a store's
`create_concurrency_limit`); the decisions live in `vibepiper.orchestration.concurrency`.
"""

from vibepiper.exceptions import (
    AcquireConcurrencySlotTimeoutError,
    ConcurrencySlotAcquisitionError,
)

__all__ = ["AcquireConcurrencySlotTimeoutError", "ConcurrencySlotAcquisitionError"]
