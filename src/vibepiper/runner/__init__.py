"""Where a served or deployed flow's code comes from (`vibepiper.runner.storage`), at
Prefect's import path."""
