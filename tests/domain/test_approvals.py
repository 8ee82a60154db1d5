"""The pure rules of approvals: what a request and a policy may say, who decides, who
interrupts, and which task states a status message may carry."""

from __future__ import annotations

import pytest

from hub.domain import Principal
from hub.domain.approvals import (
    ApprovalPolicy,
    check_message_metadata,
    check_policy,
    may_decide,
    may_interrupt,
    policy_of,
)
from hub.errors import HubError


def who(role: str, pid: str, *, watch_only: bool = False) -> Principal:
    return Principal(session_id="ses_x", role=role, participant_id=pid, watch_only=watch_only)  # type: ignore[arg-type]


def test_a_request_is_normalised_and_checked() -> None:
    """An approval request gets its default expiry; a bad one is `bad_request`; other
    messages' metadata is left as it is."""
    assert check_message_metadata("action", {"approval": {"description": "d"}, "k": 1}) == {
        "approval": {"description": "d", "expires_in": 3600.0},
        "k": 1,
    }
    for bad in ({}, {"description": ""}, {"description": "d", "expires_in": 0}, "yes"):
        with pytest.raises(HubError) as refused:
            check_message_metadata("action", {"approval": bad})
        assert refused.value.code == "bad_request"
    assert check_message_metadata("chat", {"approval": "anything"}) == {"approval": "anything"}


def test_task_states_are_the_a2a_ones() -> None:
    """A status message's `state` is one of the five task states."""
    for state in ("working", "input-required", "completed", "failed", "cancelled"):
        assert check_message_metadata("status", {"state": state}) == {"state": state}
    with pytest.raises(HubError):
        check_message_metadata("status", {"state": "done"})


def test_the_default_policy_and_who_decides() -> None:
    """By default agent A and observers decide; never the requester, agent B, or a
    watch-only token."""
    policy = policy_of({})
    assert policy == ApprovalPolicy(approvers=["agent_a", "observers"])
    may_decide(policy, who("agent_a", "a"), "b")
    may_decide(policy, who("observer", "o"), "b")
    for refused, requester in (
        (who("agent_a", "a"), "a"),
        (who("agent_b", "b"), "a"),
        (who("observer", "o", watch_only=True), "b"),
    ):
        with pytest.raises(HubError) as error:
            may_decide(policy, refused, requester)
        assert error.value.code == "forbidden"


def test_named_observers_and_interrupts() -> None:
    """Naming observers limits deciding to them; agent A may always interrupt, others
    only as approvers."""
    policy = policy_of({"approval_policy": {"approvers": ["observers"], "observers": ["o1"]}})
    may_decide(policy, who("observer", "o1"), "b")
    with pytest.raises(HubError):
        may_decide(policy, who("observer", "o2"), "b")
    with pytest.raises(HubError):
        may_decide(policy, who("agent_a", "a"), "b")
    may_interrupt(policy, who("agent_a", "a"))
    may_interrupt(policy, who("observer", "o1"))
    with pytest.raises(HubError):
        may_interrupt(policy, who("agent_b", "b"))
    with pytest.raises(ValueError):
        check_policy({"approval_policy": {"approvers": []}})
