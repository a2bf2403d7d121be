"""The organisers' private channels file: channel name → apprise URLs.

```yaml
organisers:
  - tgram://BOT_TOKEN/CHAT_ID
  - mailto://user:pass@example.com
```
"""

from __future__ import annotations

from pathlib import Path

import yaml


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
