"""The channel list is configured once: campaigns reads the channels the channels service is configured with."""

from __future__ import annotations

import json
import logging

import pytest

from services.campaigns.domain.definition import DEFAULT_CHANNELS as DOMAIN_DEFAULT
from services.channels.adapters.registry import DEFAULT_CONFIG, parse_config
from shared.config import DEFAULT_CHANNELS, DEFAULT_CHANNELS_ADAPTERS, Settings, channel_names

ADAPTERS = {"email": {"adapter": "smtp"}, "push": {"adapter": "webhook", "url": "https://push/in"},
            "sms": None}


def test_the_default_channel_list_is_written_once() -> None:
    assert DEFAULT_CONFIG is DEFAULT_CHANNELS_ADAPTERS  # channels' defaults are the shared setting's
    assert DEFAULT_CHANNELS == ("email", "sms", "call", "web") == tuple(parse_config(None))
    assert set(DOMAIN_DEFAULT) == set(DEFAULT_CHANNELS)


def test_campaigns_knows_exactly_the_channels_the_channels_service_builds() -> None:
    env = {"CHANNELS_ADAPTERS": json.dumps(ADAPTERS)}
    assert Settings.from_env("campaigns", env).channels == ("email", "push")
    assert set(Settings.from_env("campaigns", env).channels) == set(parse_config(env["CHANNELS_ADAPTERS"]))


@pytest.mark.parametrize("value", [None, "", "not json", "[1, 2]"])
def test_without_a_usable_list_both_use_the_defaults(value: str | None) -> None:
    env = {} if value is None else {"CHANNELS_ADAPTERS": value}
    assert channel_names(env) == DEFAULT_CHANNELS


def test_the_old_campaigns_list_still_wins_for_one_release_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    env = {"CHANNELS_ADAPTERS": json.dumps(ADAPTERS), "CAMPAIGNS_CHANNELS": "email, fax"}
    with caplog.at_level(logging.WARNING, logger="shared.config"):
        assert Settings.from_env("campaigns", env).channels == ("email", "fax")
    assert "CAMPAIGNS_CHANNELS is deprecated" in caplog.text
