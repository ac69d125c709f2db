"""EmailNotification against a real SMTP server (aiosmtpd) started by each test: plain
SMTP, SSL and STARTTLS with a self-signed certificate made here, login, and the clear
errors of a refused login, a refused recipient, a closed port and an untrusted
certificate."""

from __future__ import annotations

import asyncio
import datetime as dt
import email
import email.policy
import ipaddress
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from tests.client.conftest import free_port
from vibepiper import flow
from vibepiper.blocks.notifications import EmailNotification, NotificationError

PASSWORD = "smtp-pass-7f3a9"


@dataclass
class Mailbox:
    """What the SMTP server received."""

    messages: list[tuple[str, list[str], EmailMessage]] = field(default_factory=list)
    logins: list[str] = field(default_factory=list)

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        if address.startswith("nobody@"):
            return "550 5.1.1 no such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), parsed))
        return "250 Message accepted"

    def authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any
    ) -> AuthResult:
        assert isinstance(data, LoginPassword)
        ok = data.password.decode() == PASSWORD
        if ok:
            self.logins.append(data.login.decode())
        return AuthResult(success=ok, handled=False)


@dataclass
class Certificate:
    cert: Path
    key: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert, self.key)
        return context


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> Certificate:
    """A self-signed certificate for 127.0.0.1 and localhost."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("tls")
    (folder / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return Certificate(folder / "cert.pem", folder / "key.pem")


@contextmanager
def smtp_server(**options: Any) -> Iterator[tuple[Mailbox, int]]:
    mailbox = Mailbox()
    port = free_port()
    if options.pop("auth", False):
        options["authenticator"] = mailbox.authenticate
    controller = Controller(mailbox, hostname="127.0.0.1", port=port, **options)
    controller.start()
    try:
        yield mailbox, port
    finally:
        controller.stop()


def test_plain_smtp_delivers_subject_body_sender_and_recipients() -> None:
    with smtp_server() as (mailbox, port):
        block = EmailNotification(
            smtp_server="127.0.0.1",
            smtp_port=port,
            smtp_type="insecure",
            email_from="etl@example.com",
            email_to=["data@example.com", "ops@example.com"],
            email_to_cc=["lead@example.com"],
            email_to_bcc=["audit@example.com"],
        )
        block.notify("Loaded 1,204 rows.\nAll checks passed.", subject="Nightly load")
        block.notify("no subject given")
    (sender, recipients, message), (_, _, second) = mailbox.messages
    assert sender == "etl@example.com"
    assert recipients == [
        "data@example.com",
        "ops@example.com",
        "lead@example.com",
        "audit@example.com",
    ]
    assert message["From"] == "etl@example.com"
    assert message["To"] == "data@example.com, ops@example.com"
    assert message["Cc"] == "lead@example.com"
    assert message["Bcc"] is None  # envelope only
    assert message["Subject"] == "Nightly load"
    assert message["Message-ID"].endswith("@example.com>")
    assert message.get_content().replace("\r\n", "\n") == "Loaded 1,204 rows.\nAll checks passed.\n"
    assert second["Subject"] == "VibePiper notification"
    assert block.smtp_type == "INSECURE" and block.port == port


def test_default_subject_and_sender_from_username_with_login() -> None:
    with smtp_server(auth=True, auth_require_tls=False) as (mailbox, port):
        block = EmailNotification(
            smtp_server="127.0.0.1",
            smtp_port=port,
            smtp_type="INSECURE",
            username="robot@example.com",
            password=PASSWORD,
            email_to="data@example.com",
            subject="[etl] status",
        )
        block.notify("done")
    assert mailbox.logins == ["robot@example.com"]
    ((sender, recipients, message),) = mailbox.messages
    assert (sender, recipients) == ("robot@example.com", ["data@example.com"])
    assert message["Subject"] == "[etl] status"


def test_ssl_and_starttls_with_a_trusted_certificate(
    certificate: Certificate, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(certificate.cert))  # trust our self-signed CA
    # aiosmtpd offers AUTH on an implicit-TLS connection only when told it needs no STARTTLS
    context = certificate.server_context()
    with smtp_server(ssl_context=context, auth=True, auth_require_tls=False) as (mailbox, port):
        EmailNotification(
            smtp_server="localhost",
            smtp_port=port,
            smtp_type="SSL",
            username="robot@example.com",
            password=PASSWORD,
            email_to=["data@example.com"],
        ).notify("over TLS", subject="ssl")
    assert [m["Subject"] for _, _, m in mailbox.messages] == ["ssl"]
    assert mailbox.logins == ["robot@example.com"]

    tls = certificate.server_context()
    with smtp_server(tls_context=tls, require_starttls=True, auth=True) as (mailbox, port):
        EmailNotification(
            smtp_server="127.0.0.1",
            smtp_port=port,
            smtp_type="STARTTLS",
            username="robot@example.com",
            password=PASSWORD,
            email_to=["data@example.com"],
        ).notify("upgraded", subject="starttls")
    assert [m["Subject"] for _, _, m in mailbox.messages] == ["starttls"]


def test_untrusted_certificate_refused_unless_verify_is_off(certificate: Certificate) -> None:
    with smtp_server(ssl_context=certificate.server_context()) as (mailbox, port):
        block = EmailNotification(
            smtp_server="127.0.0.1", smtp_port=port, email_from="a@example.com", email_to=["b@x.io"]
        )
        with pytest.raises(NotificationError, match=r"TLS failed: .*CERTIFICATE_VERIFY_FAILED"):
            block.notify("x")
        block.model_copy(update={"verify": False}).notify("not verified", subject="nv")
    assert [m["Subject"] for _, _, m in mailbox.messages] == ["nv"]


def test_failures_name_the_block_and_the_smtp_reason_never_the_password() -> None:
    with smtp_server(auth=True, auth_require_tls=False) as (mailbox, port):
        base = EmailNotification(
            smtp_server="127.0.0.1",
            smtp_port=port,
            smtp_type="INSECURE",
            username="robot@example.com",
            password="wrong-password-123",
            email_to=["data@example.com"],
        )
        with pytest.raises(NotificationError) as refused:
            base.notify("x")
        message = str(refused.value)
        assert message.startswith("EmailNotification block (unsaved) could not notify: SMTP ")
        assert f"127.0.0.1:{port} (INSECURE)" in message
        assert "login as 'robot@example.com' refused: 535" in message
        assert "wrong-password-123" not in message

        def anonymous(*to: str) -> EmailNotification:
            return EmailNotification(
                smtp_server="127.0.0.1", smtp_port=port, smtp_type="INSECURE",
                email_from="etl@example.com", email_to=list(to),
            )  # fmt: skip

        with pytest.raises(NotificationError, match=r"every recipient was refused: "
                           r"nobody@example.com \(550 5.1.1 no such mailbox\)"):  # fmt: skip
            anonymous("nobody@example.com").notify("x")
        some = anonymous("nobody@example.com", "data@example.com")
        with pytest.raises(NotificationError, match="some recipients were refused: nobody@"):
            some.notify("half")
    assert [recipients for _, recipients, _ in mailbox.messages] == [["data@example.com"]]

    closed = EmailNotification(
        smtp_server="127.0.0.1", smtp_port=free_port(), smtp_type="INSECURE",
        email_from="a@example.com", email_to=["b@example.com"], timeout=5,
    )  # fmt: skip
    with pytest.raises(NotificationError, match=r"cannot connect: .*refused"):
        closed.notify("x")


def test_login_over_plain_smtp_without_auth_is_a_clear_error() -> None:
    with smtp_server(auth=True) as (_, port):  # AUTH offered over TLS only
        block = EmailNotification(
            smtp_server="127.0.0.1", smtp_port=port, smtp_type="INSECURE",
            username="robot@example.com", password=PASSWORD, email_to=["b@example.com"],
        )  # fmt: skip
        with pytest.raises(
            NotificationError, match=r"offers no login .*\(servers usually .* use smtp_type SSL"
        ):
            block.notify("x")


def test_construction_rules_and_default_ports() -> None:
    with pytest.raises(ValueError, match="give email_from"):
        EmailNotification(smtp_server="h", email_to=["a@example.com"])
    with pytest.raises(ValueError, match="at least one address"):
        EmailNotification(smtp_server="h", email_from="a@example.com", email_to=[])
    ports = {
        kind: EmailNotification(
            smtp_server="h", smtp_type=kind, email_from="a@x.io", email_to=["b@x.io"]
        ).port
        for kind in ("SSL", "STARTTLS", "INSECURE")
    }
    assert ports == {"SSL": 465, "STARTTLS": 587, "INSECURE": 25}


def test_async_twin_and_dispatch_inside_an_async_flow() -> None:
    with smtp_server() as (mailbox, port):
        block = EmailNotification(
            smtp_server="127.0.0.1", smtp_port=port, smtp_type="INSECURE",
            email_from="etl@example.com", email_to=["data@example.com"],
        )  # fmt: skip

        @flow
        async def report() -> None:
            await block.notify("from an async flow", subject="dispatched")
            await block.anotify("twin", subject="anotify")

        asyncio.run(report())
    assert [m["Subject"] for _, _, m in mailbox.messages] == ["dispatched", "anotify"]
