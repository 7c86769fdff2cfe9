"""Which adapter serves which channel: entry points of the `touchpoint.adapters` group plus configuration.

`CHANNELS_ADAPTERS` (JSON) maps a channel to its adapter and options, for example

    {"email": {"adapter": "smtp", "host": "smtp.example.com", "port": 587, "starttls": true},
     "sms": {"adapter": "sms_gateway", "url": "https://gw.example.com/send", "token_env": "SMS_TOKEN"},
     "push": {"adapter": "webhook", "url": "https://push.example.com/in", "secret_env": "PUSH_SECRET"},
     "call": {"adapter": "call_center"}, "web": {"adapter": "web_offers"}}

`adapter` is an entry-point name or `package.module:Class`. A channel set to `null` is disabled.
Without the variable, DEFAULT_CONFIG (`shared.config.DEFAULT_CHANNELS_ADAPTERS`) applies.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Mapping
from importlib.metadata import entry_points
from typing import Any

from services.channels.adapters.base import AdapterContext, ChannelAdapter
from shared.config import DEFAULT_CHANNELS_ADAPTERS

GROUP = "touchpoint.adapters"
# Without CHANNELS_ADAPTERS: the deployment's default channels and adapters, the one list campaigns
# reads too (shared.config.DEFAULT_CHANNELS are its keys).
DEFAULT_CONFIG: Mapping[str, Mapping[str, Any]] = DEFAULT_CHANNELS_ADAPTERS


class AdapterConfigError(ValueError):
    """The adapter configuration names something that cannot be loaded."""


def available() -> dict[str, str]:
    """Entry-point names of installed adapters and the object each points at."""
    return {ep.name: ep.value for ep in entry_points(group=GROUP)}


def resolve(name: str) -> type[ChannelAdapter]:
    """The adapter class of an entry-point name or a `module:Class` path."""
    if ":" in name:
        module, _, attr = name.partition(":")
        try:
            return getattr(importlib.import_module(module), attr)
        except (ImportError, AttributeError) as exc:
            raise AdapterConfigError(f"cannot import adapter {name!r}: {exc}") from exc
    for ep in entry_points(group=GROUP):
        if ep.name == name:
            return ep.load()
    raise AdapterConfigError(f"no adapter {name!r} in entry point group {GROUP} (have {sorted(available())})")


def parse_config(text: str | None) -> dict[str, dict[str, Any]]:
    """Parse `CHANNELS_ADAPTERS`; None or empty means the defaults."""
    if not text:
        return {k: dict(v) for k, v in DEFAULT_CONFIG.items()}
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise AdapterConfigError(f"CHANNELS_ADAPTERS is not JSON: {exc}") from exc
    if not isinstance(raw, dict):
        raise AdapterConfigError("CHANNELS_ADAPTERS must map channel names to adapter settings")
    config = {}
    for channel, entry in raw.items():
        if entry is None:
            continue
        if not isinstance(entry, dict) or not isinstance(entry.get("adapter"), str):
            raise AdapterConfigError(f"CHANNELS_ADAPTERS[{channel!r}] needs an 'adapter' name")
        config[channel] = dict(entry)
    return config


def build_adapters(config: Mapping[str, Mapping[str, Any]], context: AdapterContext) -> dict[str, ChannelAdapter]:
    """One fresh adapter instance per configured channel (call once per delivery worker)."""
    adapters = {}
    for channel, entry in config.items():
        options = {k: v for k, v in entry.items() if k != "adapter"}
        adapters[channel] = resolve(entry["adapter"])(channel, options, context)
    return adapters
