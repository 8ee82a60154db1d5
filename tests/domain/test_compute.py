"""The pure rules of compute: settling a reservation, which pools a session may draw on,
who holds a job, where an expired lease sends it, and the bounds of a job's JSON."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from hub.domain.jobs import (
    RunnerPrincipal,
    after_expiry,
    check_cancel,
    check_held,
    check_input,
    check_output,
    result_charge,
)
from hub.domain.pools import Settlement, check_draw, settle
from hub.errors import HubError

NOW = datetime(2026, 1, 1, tzinfo=UTC)
RUNNER = RunnerPrincipal(key_id="rkey_1", name="r", kinds=("echo",), owner_user_id="u1",
                         owner_space_id=None)  # fmt: skip


def test_settling_charges_at_most_the_reservation_and_releases_the_rest() -> None:
    """The charge is capped at the reservation and never negative; the rest is released."""
    assert settle(40, 25) == Settlement(charged=25, released=15)
    assert settle(40, 100) == Settlement(charged=40, released=0)
    assert settle(40, -5) == Settlement(charged=0, released=40)
    assert settle(0, 10) == Settlement(charged=0, released=0)


def test_a_result_charges_what_the_runner_reports_or_a_default_by_outcome() -> None:
    """Reported cost wins; else a success charges the reservation, a failure what was used."""
    assert result_charge("succeeded", 7, 3, 10) == 7
    assert result_charge("succeeded", None, 3, 10) == 10
    assert result_charge("failed", None, 3, 10) == 3
    assert result_charge("failed", 0, 3, 10) == 0


def test_a_session_draws_on_its_agent_owners_pool_or_its_spaces() -> None:
    """A person's pool serves the sessions of their verified agent A; a space's pool the
    sessions in the space; any other pairing is forbidden."""
    check_draw(pool_user_id="u1", pool_space_id=None, agent_a_owner_id="u1", session_space_id=None)
    check_draw(pool_user_id=None, pool_space_id="s1", agent_a_owner_id=None, session_space_id="s1")
    for pool_user, pool_space, owner, space in (
        ("u1", None, "u2", None),
        ("u1", None, None, "s1"),
        (None, "s1", "u1", "s2"),
        (None, "s1", None, None),
    ):
        with pytest.raises(HubError) as refused:
            check_draw(pool_user_id=pool_user, pool_space_id=pool_space,
                       agent_a_owner_id=owner, session_space_id=space)  # fmt: skip
        assert refused.value.code == "forbidden"


def _held(**changes: object) -> None:
    given: dict[str, object] = {
        "status": "running",
        "holder": "rkey_1",
        "attempts": 2,
        "lease_until": NOW + timedelta(seconds=5),
        "now": NOW,
        "runner": RUNNER,
        "attempt": 2,
    }
    given.update(changes)
    check_held(**given)  # type: ignore[arg-type]


def test_only_the_key_and_attempt_holding_a_live_lease_may_report() -> None:
    """Another key, another attempt, a lease at or past its end, or a job not running:
    lease_lost."""
    _held()
    for changes in (
        {"holder": "rkey_2"},
        {"attempt": 1},
        {"lease_until": NOW},
        {"status": "queued"},
        {"status": "cancelled"},
    ):
        with pytest.raises(HubError) as refused:
            _held(**changes)
        assert refused.value.code == "lease_lost"


def test_an_expired_lease_requeues_until_the_last_attempt_then_times_out() -> None:
    assert after_expiry(1, 3) == "queued"
    assert after_expiry(2, 3) == "queued"
    assert after_expiry(3, 3) == "timed_out"


def test_only_queued_or_running_jobs_are_cancelled() -> None:
    check_cancel("queued")
    check_cancel("running")
    for status in ("succeeded", "failed", "cancelled", "timed_out"):
        with pytest.raises(HubError) as refused:
            check_cancel(status)  # type: ignore[arg-type]
        assert refused.value.code == "invalid_transition"


def test_job_input_and_output_are_bounded() -> None:
    """Input up to 16 KiB and output up to 64 KiB encoded, 32 levels deep; scalars too."""
    check_input(None)
    check_input({"a": "x" * 16_000})
    check_output(["y" * 65_000])
    deep: list[object] = [1]
    for _ in range(40):
        deep = [deep]
    for bad in ({"a": "x" * 17_000}, "x" * 17_000, deep):
        with pytest.raises(ValueError):
            check_input(bad)
    with pytest.raises(ValueError):
        check_output({"a": "x" * 70_000})
