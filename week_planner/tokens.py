"""Signed tokens in links, all made with the service's secret key (itsdangerous): the
confirm and unsubscribe links of a subscription, the draft preview link and the personal
feed's address. Each kind has its own salt, so one kind of token never passes for another.

The ``app`` arguments are anything with a ``config`` holding ``SECRET_KEY``.
"""

from __future__ import annotations

import hashlib
import hmac

from itsdangerous import BadSignature, URLSafeSerializer, URLSafeTimedSerializer

PREVIEW_SALT = "week-planner.preview"
MY_FEED_SALT = "week-planner.my-feed"


# -- subscriptions: confirm and unsubscribe links (with a time of signing) -------------------

def subscription_serializer(app, purpose: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(app.config["SECRET_KEY"], salt=f"week-planner-{purpose}")


def subscription_tag(app, subscriber_id: int, programme_id: str, channel: str,
                     address: str) -> str:
    """Ties a token to the one subscription it was made for: the id of a deleted row is
    given again to a later one (SQLite), and an old link must not reach that one."""
    key = app.config["SECRET_KEY"].encode("utf-8")
    text = "\x1f".join((str(subscriber_id), programme_id, channel, address))
    return hmac.new(key, text.encode("utf-8"), hashlib.sha256).hexdigest()[:16]


def unsubscribe_token(app, subscriber_id: int, programme_id: str, channel: str,
                      address: str) -> str:
    return subscription_serializer(app, "unsubscribe").dumps(
        [subscriber_id, subscription_tag(app, subscriber_id, programme_id, channel, address)])


def confirm_token(app, subscriber_id: int, programme_id: str, channel: str,
                  address: str) -> str:
    return subscription_serializer(app, "confirm").dumps(
        [subscriber_id, subscription_tag(app, subscriber_id, programme_id, channel, address)])


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
