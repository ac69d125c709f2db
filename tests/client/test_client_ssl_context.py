"""The SDK's HTTP clients share one verifying SSL context (building one loads the CA
bundle, ~20 ms, and the SDK opens a client per `Variable.get` or `Block.load`)."""

from __future__ import annotations

import ssl
from pathlib import Path

import certifi
import pytest

from vibepiper.client._client import _http_settings, _shared_ssl_context


def test_one_context_per_trust_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    shared = _shared_ssl_context()
    assert isinstance(shared, ssl.SSLContext) and shared.verify_mode == ssl.CERT_REQUIRED
    assert _shared_ssl_context() is shared
    settings = _http_settings("https://example.com/api", None, 5.0, None, None)
    assert settings["verify"] is shared

    bundle = tmp_path / "ca.pem"
    bundle.write_text(Path(certifi.where()).read_text())
    monkeypatch.setenv("SSL_CERT_FILE", str(bundle))
    assert _shared_ssl_context() is not shared  # another trust store, another context


def test_given_verify_cert_or_transport_wins() -> None:
    assert _http_settings("https://h/api", None, 5.0, None, {"verify": False})["verify"] is False
    with_cert = _http_settings("https://h/api", None, 5.0, None, {"cert": "client.pem"})
    assert "verify" not in with_cert
    assert "verify" not in _http_settings("http://h/api", None, 5.0, object(), None)
