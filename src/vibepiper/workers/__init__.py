"""Pull-based workers: claim due flow runs from the server and run each in a process.

`vibepiper worker start --pool P` runs a `ProcessWorker` (`worker.py`); `flow.serve()`
runs `serve_deployments` (`serve.py`); both are the same loop (`base.py`) over the
run processes of `process.py`, each of which runs `python -m vibepiper.workers.execute`.
Nothing here is imported by `import vibepiper`.
"""
