"""The organisers' private channels file: channel name → apprise URLs.

```yaml
organisers:
  - tgram://BOT_TOKEN/CHAT_ID
  - mailto://user:pass@example.com
```
"""

from __future__ import annotations

import logging
from pathlib import Path

import yaml

from week_planner.reminders.delivery import DeliveryError, mask_addresses


class ChannelsError(ValueError):
    pass


def read_channels(path: str | Path) -> dict[str, list[str]]:
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        raise ChannelsError(f"{path}: {error}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ChannelsError(f"{path}: must map channel names to lists of apprise URLs")
    channels = {}
    for name, urls in data.items():
        if isinstance(urls, str):
            urls = [urls]
        if not isinstance(urls, list) or not all(isinstance(u, str) for u in urls):
            raise ChannelsError(f"{path}: channel {name!r} must be a list of apprise URLs")
        channels[str(name)] = urls
    return channels


def channel_names(path: str | Path) -> set[str]:
    return set(read_channels(path))


# -- sending ------------------------------------------------------------------------------

SMS_CHANNEL = "sms"  # the channel whose URLs are templates with ``{phone}``: the SMS gateway




def sms_template(channels: dict[str, list[str]]) -> list[str] | None:
    """The SMS gateway's apprise URL templates (``{phone}`` in them), if configured."""
    urls = [url for url in channels.get(SMS_CHANNEL, []) if "{phone}" in url]
    return urls or None


class _MaskAddresses(logging.Filter):
    """apprise logs its targets (numbers in SMS gateway URLs); mask them."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = mask_addresses(record.getMessage())
        record.args = None
        return True


_MASK = _MaskAddresses()


def send_apprise(urls: list[str], title: str, body: str) -> None:
    """Send one message to every URL; raise DeliveryError when any of them fails."""
    apprise_log = logging.getLogger("apprise")
    if _MASK not in apprise_log.filters:
        apprise_log.addFilter(_MASK)
    # apprise loads some of its parts on first use, one of which imports the standard
    # library's deprecated imghdr; that warning is apprise's, so it is silenced here.
    import warnings
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=DeprecationWarning, message=".*imghdr")
        import apprise

        notifier = apprise.Apprise()
        for url in urls:
            if not notifier.add(url):
                raise DeliveryError("an apprise URL of the channel is not valid",
                                    permanent=True)
        if not notifier.notify(title=title, body=body,
                               body_format=apprise.NotifyFormat.TEXT):
            raise DeliveryError("the channel did not accept the message")


def send_sms(templates: list[str], phone: str, body: str) -> None:
    """One text to one phone: the gateways are tried in order, so a second one listed is a
    backup for the first, never a second text."""
    error: DeliveryError | None = None
    for template in templates:
        try:
            send_apprise([template.replace("{phone}", phone)], "", body)
            return
        except DeliveryError as failed:
            error = failed
    assert error is not None
    raise error
