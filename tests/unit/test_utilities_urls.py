"""`redact_url` / `redact_urls`: no password or query-string secret reaches a printed URL;
the client's errors and the CLI's error lines use them."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from vibepiper.utilities.urls import redact_url, redact_urls


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://127.0.0.1:4200/api", "http://127.0.0.1:4200/api"),
        ("http://user:password@host/api", "http://user:***@host/api"),
        ("https://user:p%40ss:word@host:8443/api/", "https://user:***@host:8443/api/"),
        ("http://tokenonly@host/api", "http://***@host/api"),
        ("postgresql+psycopg://postgres@db:5432/x", "postgresql+psycopg://postgres@db:5432/x"),
        ("http://host/api?token=abc123&limit=5", "http://host/api?token=***&limit=5"),
        (
            "http://u:pw@host/api?api_key=k&x=1&access_token=t&sig=s#frag",
            "http://u:***@host/api?api_key=***&x=1&access_token=***&sig=***#frag",
        ),
        (
            "postgresql+asyncpg://vp:secret@db.internal:5432/vibepiper?sslmode=require",
            "postgresql+asyncpg://vp:***@db.internal:5432/vibepiper?sslmode=require",
        ),
        ("postgresql://db/vibepiper?password=secret", "postgresql://db/vibepiper?password=***"),
        ("sqlite+aiosqlite:////home/ada/.vibepiper/vibepiper.db", None),
        ("not a url", None),
        ("", None),
    ],
)
def test_redact_url_hides_passwords_and_query_secrets(url: str, expected: str | None) -> None:
    assert redact_url(url) == (url if expected is None else expected)


def test_redact_urls_finds_every_url_in_a_message() -> None:
    message = (
        "cannot reach the VibePiper server at http://alice:s3cret@127.0.0.1:9/api "
        "(ConnectError); also tried 'https://bob:hunter2@backup/api?token=t0k'."
    )

    redacted = redact_urls(message)

    assert "s3cret" not in redacted and "hunter2" not in redacted and "t0k" not in redacted
    assert "http://alice:***@127.0.0.1:9/api " in redacted
    assert "'https://bob:***@backup/api?token=***'." in redacted


def test_client_errors_hide_credentials() -> None:
    from vibepiper.client.errors import ApiError, ServerUnreachable

    error = ServerUnreachable("cannot reach the VibePiper server at http://u:pw@h:1/api")
    assert str(error) == "cannot reach the VibePiper server at http://u:***@h:1/api"
    assert "pw" not in str(ApiError("GET http://u:pw@h/api/flows/ failed with 500: boom"))


def test_cli_error_lines_hide_credentials() -> None:
    import typer

    from vibepiper.cli import _output

    app = typer.Typer()

    @app.command()
    def fail() -> None:
        _output.fail("cannot use http://u:pw@h/api?token=abc")

    result = CliRunner().invoke(app, [])

    assert result.exit_code == 1
    assert result.stderr.strip() == "Error: cannot use http://u:***@h/api?token=***"
