"""Configuration from the environment, with errors that name the variable."""

import pytest

from hub.config import ConfigError, load_config


def test_defaults_run_embedded() -> None:
    """With nothing set, the hub uses an embedded database and the in-memory bus."""
    config = load_config({})
    assert config.database_url is None and config.redis_url is None
    assert config.port == 8080


def test_values_are_read_and_converted() -> None:
    """HUB_* variables are converted to their types; PORT is honoured too."""
    config = load_config({"HUB_PORT": "9000", "HUB_HEARTBEAT_INTERVAL": "2.5"})
    assert config.port == 9000 and config.heartbeat_interval == 2.5
    assert load_config({"PORT": "7000"}).port == 7000


@pytest.mark.parametrize(
    ("env", "var"),
    [
        ({"HUB_PORT": "eighty"}, "HUB_PORT"),
        ({"HUB_PORT": "70000"}, "HUB_PORT"),
        ({"HUB_RATE_BURST": "0"}, "HUB_RATE_BURST"),
        ({"HUB_TRUSTED_PROXIES": "10.0.0.0/8, not-an-address"}, "HUB_TRUSTED_PROXIES"),
        ({"HUB_HEADER_TIMEOUT": "0"}, "HUB_HEADER_TIMEOUT"),
    ],
)
def test_bad_values_name_the_variable(env: dict[str, str], var: str) -> None:
    """A bad value fails with a message naming the variable."""
    with pytest.raises(ConfigError, match=var):
        load_config(env)


def test_send_queue_must_hold_a_commit_burst() -> None:
    """A send queue smaller than one commit's burst is refused, naming both settings."""
    with pytest.raises(ConfigError, match="HUB_SEND_QUEUE_FRAMES"):
        load_config({"HUB_SEND_QUEUE_FRAMES": "100", "HUB_COMMIT_BATCH_MAX": "64"})
