"""The email channel: an SMTP sender (`smtplib`, configured with host, port and sender
address) and the text of notification emails and digests."""

from __future__ import annotations

import smtplib
from collections.abc import Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any, Protocol


class Mailer(Protocol):
    def send(self, to: str, subject: str, body: str) -> None: ...


@dataclass(frozen=True)
class SmtpMailer:
    """Sends each email in its own SMTP session (notification mail is rare next to requests)."""

    host: str
    port: int
    sender: str
    username: str | None = None
    password: str | None = None
    starttls: bool = False
    timeout: float = 30.0

    def send(self, to: str, subject: str, body: str) -> None:
        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = to
        message["Subject"] = subject
        message.set_content(body)
        with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
            if self.starttls:
                smtp.starttls()
            if self.username:
                smtp.login(self.username, self.password or "")
            smtp.send_message(message)


def _link(url: str | None, origin: str) -> str:
    if not url:
        return ""
    return url if url.startswith("http") else origin.rstrip("/") + url


def notification_email(doc: dict[str, Any], origin: str) -> tuple[str, str]:
    """(subject, body) of the email of one notification."""
    details = doc["details"]
    message = details.get("message") or doc["type"]
    body = f"{message}\n\n{_link(details.get('url'), origin)}\n\n-- Atelier hub ({doc['type']}; change what you receive in your notification preferences)\n"
    return f"[Atelier hub] {message}", body


def digest_email(docs: Sequence[dict[str, Any]], origin: str) -> tuple[str, str]:
    """(subject, body) of one daily digest listing `docs`."""
    lines = [
        f"- {d['details'].get('message') or d['type']}  {_link(d['details'].get('url'), origin)}"
        for d in docs
    ]
    count = len(docs)
    subject = f"[Atelier hub] Your daily digest: {count} notification{'s' if count != 1 else ''}"
    body = "Since your last digest:\n\n" + "\n".join(lines) + "\n\n-- Atelier hub (daily digest)\n"
    return subject, body
