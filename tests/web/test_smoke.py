"""The shortest path through the hub: create, join, talk."""

from tests.helpers import HubClient


async def test_agents_exchange_a_message(client: HubClient) -> None:
    """A message sent by agent A is acked and delivered to agent B and an observer."""
    s = await client.session_with_b()
    a = await client.connect(s["a"])
    b = await client.connect(s["b"])
    obs = await client.connect(s["obs"])
    ack = await a.say("hello B")
    assert ack["type"] == "ack", ack
    assert ack["message"]["id"] == 1
    for peer in (a, b, obs):
        frame = await peer.next("message")
        assert frame["message"]["content"] == "hello B"
        assert frame["message"]["author_role"] == "agent_a"
