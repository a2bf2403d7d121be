"""Signed tokens in links, all made with the service's secret key (itsdangerous): the
confirm, code and unsubscribe links of a subscription, the draft preview link and the
personal feed's address. Each kind has its own salt, so one kind of token never passes for
another.

A subscription's links carry a random key kept in the database (``link_token``), never a
row id: a stranger who asks for a code link learns nothing from it, and asking again gives
an unrelated token. ``read_legacy_subscription_token`` reads the links of earlier
versions (a row id and a tag), still found in mails already sent.

The ``app`` arguments are anything with a ``config`` holding ``SECRET_KEY``.
"""

from __future__ import annotations

import hashlib
import hmac

from itsdangerous import (
    BadSignature,
    SignatureExpired,
    URLSafeSerializer,
    URLSafeTimedSerializer,
)

PREVIEW_SALT = "week-planner.preview"
MY_FEED_SALT = "week-planner.my-feed"
LINK_PURPOSES = frozenset({"confirm", "code", "unsubscribe"})


# -- subscriptions: confirm, code and unsubscribe links -----------------------------------

def _link_serializer(app, purpose: str) -> URLSafeSerializer:
    if purpose not in LINK_PURPOSES:
        raise ValueError(f"no such kind of link: {purpose}")
    return URLSafeSerializer(app.config["SECRET_KEY"], salt=f"week-planner.{purpose}-link")


def link_token(app, purpose: str, key: str) -> str:
    """The token of a ``purpose`` link ("confirm", "code" or "unsubscribe") naming the
    random ``key``."""
    return _link_serializer(app, purpose).dumps(key)


def read_link_token(app, purpose: str, token: str) -> str | None:
    """The key a ``purpose`` token names, or None when it is not one (tampered, another
    kind of link, another key)."""
    try:
        key = _link_serializer(app, purpose).loads(token)
    except BadSignature:
        return None
    return key if isinstance(key, str) and key else None


def subscription_serializer(app, purpose: str) -> URLSafeTimedSerializer:
    """The links of earlier versions: ``[subscriber id, tag]``, signed with the time."""
    return URLSafeTimedSerializer(app.config["SECRET_KEY"], salt=f"week-planner-{purpose}")


def subscription_tag(app, subscriber_id: int, programme_id: str, channel: str,
                     address: str) -> str:
    """Ties an earlier version's token to the one subscription it was made for: the id of
    a deleted row is given again to a later one (SQLite), and an old link must not reach
    that one."""
    key = app.config["SECRET_KEY"].encode("utf-8")
    text = "\x1f".join((str(subscriber_id), programme_id, channel, address))
    return hmac.new(key, text.encode("utf-8"), hashlib.sha256).hexdigest()[:16]


def read_legacy_subscription_token(app, purpose: str, token: str,
                                   max_age: int | None = None
                                   ) -> tuple[int, str] | str | None:
    """(subscriber id, tag) from an earlier version's ``purpose`` token; "expired" when
    it is one older than ``max_age`` seconds; None when it is none."""
    try:
        value = subscription_serializer(app, purpose).loads(token, max_age=max_age)
    except SignatureExpired:
        return "expired"
    except BadSignature:
        return None
    if not (isinstance(value, list) and len(value) == 2 and type(value[0]) is int
            and isinstance(value[1], str)):
        return None
    return value[0], value[1]


# -- the preview link of a draft -------------------------------------------------------------

def _preview_serializer(app) -> URLSafeSerializer:
    return URLSafeSerializer(app.config["SECRET_KEY"], salt=PREVIEW_SALT)


def preview_token(app, programme_id: str) -> str:
    return _preview_serializer(app).dumps(programme_id)


def previews(app, token: str, programme_id: str) -> bool:
    """True when ``token`` is the preview token of ``programme_id``."""
    try:
        return _preview_serializer(app).loads(token) == programme_id
    except BadSignature:
        return False


# -- the personal feed ("my programme") ------------------------------------------------------

def _my_serializer(app) -> URLSafeSerializer:
    return URLSafeSerializer(app.config["SECRET_KEY"], salt=MY_FEED_SALT)


def make_my_token(app, programme_id: str, event_ids) -> str:
    """A signed token for a personal feed of ``event_ids``; never expires."""
    return _my_serializer(app).dumps([programme_id, sorted(set(event_ids))])


def read_my_token(app, programme_id: str, token: str) -> frozenset[str] | None:
    """The chosen event ids, or None when the token is tampered or for another programme."""
    try:
        found = _my_serializer(app).loads(token)
    except BadSignature:
        return None
    if (not isinstance(found, list) or len(found) != 2 or found[0] != programme_id
            or not isinstance(found[1], list) or not found[1]
            or not all(isinstance(item, str) for item in found[1])):
        return None
    return frozenset(found[1])
