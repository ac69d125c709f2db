"""Sending one email with smtplib (for `notifications.EmailNotification`): connecting
with SSL, STARTTLS or plain SMTP, and turning every way it can fail into one
`SmtpFailure` line that names the SMTP reply or the connection error. The message is
built by `orchestration.delivery.email_message`, which the server's notifications use
too."""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from typing import Literal

__all__ = ["SmtpFailure", "send"]


class SmtpFailure(Exception):
    """The server refused the message, or could not be reached."""


def send(
    message: EmailMessage,
    recipients: list[str],
    *,
    host: str,
    port: int,
    security: Literal["SSL", "STARTTLS", "INSECURE"],
    username: str | None,
    password: str | None,
    timeout: float,
    verify: bool,
) -> None:
    """Deliver `message` to `recipients` (the envelope); SmtpFailure when not accepted."""
    context = ssl.create_default_context()
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    try:
        if security == "SSL":
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(host, port, timeout=timeout, context=context)
        else:
            smtp = smtplib.SMTP(host, port, timeout=timeout)
        with smtp:
            if security == "STARTTLS":
                smtp.starttls(context=context)
            if username:
                _login(smtp, username, password or "", security)
            refused = smtp.send_message(message, to_addrs=recipients)
    except smtplib.SMTPRecipientsRefused as exc:
        raise SmtpFailure(f"every recipient was refused: {_refusals(exc.recipients)}") from None
    except smtplib.SMTPSenderRefused as exc:
        raise SmtpFailure(f"sender {exc.sender} refused: {_reply(exc)}") from None
    except smtplib.SMTPResponseException as exc:
        raise SmtpFailure(f"the server answered {_reply(exc)}") from None
    except smtplib.SMTPServerDisconnected as exc:
        raise SmtpFailure(
            f"the server closed the connection ({exc or 'no reason given'})"
        ) from None
    except smtplib.SMTPException as exc:
        raise SmtpFailure(str(exc)) from None
    except ssl.SSLError as exc:
        raise SmtpFailure(f"TLS failed: {exc}") from None
    except OSError as exc:
        raise SmtpFailure(f"cannot connect: {exc or type(exc).__name__}") from None
    if refused:
        raise SmtpFailure(f"some recipients were refused: {_refusals(refused)}")


def _login(smtp: smtplib.SMTP, username: str, password: str, security: str) -> None:
    try:
        smtp.login(username, password)
    except smtplib.SMTPAuthenticationError as exc:
        raise SmtpFailure(f"login as {username!r} refused: {_reply(exc)}") from None
    except smtplib.SMTPNotSupportedError:
        hint = ""
        if security == "INSECURE":
            hint = " (servers usually offer it over TLS only: use smtp_type SSL or STARTTLS)"
        raise SmtpFailure(f"the server offers no login (AUTH) on this connection{hint}") from None


def _reply(exc: smtplib.SMTPResponseException) -> str:
    text = exc.smtp_error
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return f"{exc.smtp_code} {text}".strip()


def _refusals(refused: dict[str, tuple[int, bytes]]) -> str:
    return "; ".join(
        f"{address} ({code} {reply.decode('utf-8', 'replace')})"
        for address, (code, reply) in refused.items()
    )
