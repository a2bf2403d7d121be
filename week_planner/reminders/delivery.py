"""What every way of sending shares: ``DeliveryError`` (a message not delivered, and
whether retrying can help) and the masking of addresses and numbers in logs and errors."""

from __future__ import annotations

import re


def mask_address(address: str) -> str:
    """``a***@e***.ir`` for mail, ``0912***67`` for a number: enough to tell apart in a log."""
    if "@" in address:
        local, _, domain = address.rpartition("@")
        name, dot, tld = domain.rpartition(".")
        masked_domain = f"{name[:1]}***{dot}{tld}" if dot else f"{domain[:1]}***"
        return f"{local[:1]}***@{masked_domain}"
    return f"{address[:4]}***{address[-2:]}" if len(address) > 6 else "***"


ADDRESS_RE = re.compile(r"[^\s<>\"'(),;:]+@[^\s<>\"'(),;:]+|(?<!\d)(?:\+98|0098|0)?9\d{9}(?!\d)")


def mask_addresses(text: str) -> str:
    """Mask every e-mail address and mobile number in a text (server replies, logs)."""
    return ADDRESS_RE.sub(lambda match: mask_address(match.group(0)), text)


class DeliveryError(Exception):
    """A message was not delivered. ``permanent``: retrying cannot help (a 5xx answer);
    ``connection``: the server could not be reached, so the rest of a batch waits too."""

    def __init__(self, message: str, permanent: bool = False, connection: bool = False):
        super().__init__(message)
        self.permanent = permanent
        self.connection = connection
