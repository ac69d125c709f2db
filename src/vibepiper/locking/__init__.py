"""Locks on keys, for transactions and cache keys under `IsolationLevel.SERIALIZABLE`.

`MemoryLockManager` locks within one process; `FileSystemLockManager` locks files, so
its locks hold across the processes of one machine. Both follow the `LockManager`
protocol of `vibepiper.locking.protocol` (Prefect's `prefect.locking`).
"""
