"""The `vibepiper` command line: `vibepiper version`, `vibepiper flow-run ls|inspect|logs`.

`main()` is the console script's entry point; `app` is the Typer application (tests
drive it in process with `typer.testing.CliRunner`).
"""

from vibepiper.cli.root import app as app
from vibepiper.cli.root import main as main

__all__ = ["app", "main"]
