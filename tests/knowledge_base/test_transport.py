"""LinkTransport: KB updates over the simulated digital link."""

from __future__ import annotations

from knowledge_base import VOCABULARY, HmacVerifier, KnowledgeBase, SyncManager, SyncReceiver
from knowledge_base.transport import LinkTransport
from semcom.link.digital import DigitalLink

KEY = b"transport-test-key-0123456789"


def _pair():
    sender = KnowledgeBase()
    sender.put(VOCABULARY, "en", b"a dog runs on the grass " * 4)
    v1 = sender.commit("v1")
    receiver = KnowledgeBase()
    receiver.put(VOCABULARY, "en", b"a dog runs on the grass " * 4)
    assert receiver.commit("v1") == v1
    sender.put(VOCABULARY, "en", b"a cat sleeps on a red sofa " * 4)
    return sender, receiver, v1


def test_high_snr_delivers_and_counts():
    link = DigitalLink("awgn", mcs=0, code="ldpc", seed=0)
    t = LinkTransport(link, snr_db=10.0, seed=0)
    d = t.send(b"x" * 40)
    assert d.ok and d.data == b"x" * 40 and d.bits == 320
    assert d.channel_uses == link.plan(320, 10.0).channel_uses == t.channel_uses


def test_sync_high_snr_updates_receiver():
    sender, receiver, v1 = _pair()
    manager = SyncManager(sender, KEY, policy="push")
    transport = LinkTransport(DigitalLink("awgn", mcs=2, code="ldpc", seed=1), snr_db=12.0, seed=1)
    endpoint = SyncReceiver(receiver, HmacVerifier(KEY))
    manager.add_receiver("rx", transport, endpoint, acked_version=v1)
    v2 = manager.commit("v2")
    assert receiver.head == v2
    assert manager.stats.accepted == 1 and manager.stats.channel_uses == transport.channel_uses > 0


def test_sync_low_snr_fails_and_old_version_stays_usable():
    sender, receiver, v1 = _pair()
    manager = SyncManager(sender, KEY, policy="push")
    transport = LinkTransport(DigitalLink("awgn", mcs=9, code="ldpc", seed=2), snr_db=-5.0, seed=2)
    manager.add_receiver("rx", transport, SyncReceiver(receiver, HmacVerifier(KEY)), acked_version=v1)
    manager.commit("v2")
    event = manager.history[-1]
    assert not event.delivered and not event.accepted
    assert transport.log[-1].failed_blocks > 0
    assert receiver.head == v1
    assert receiver.get(VOCABULARY, "en").data == b"a dog runs on the grass " * 4
    assert manager.stats.failed == 1 and manager.stats.channel_uses > 0
