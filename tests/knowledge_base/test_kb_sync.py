"""The sync manager: policies, failed transfers, retries and overhead accounting."""

from __future__ import annotations

import pytest

from knowledge_base import (
    CODEBOOK,
    EMPTY_VERSION,
    VOCABULARY,
    IdealTransport,
    KnowledgeBase,
    KnowledgeBaseError,
    SyncManager,
    SyncReceiver,
    apply_update,
    make_update,
)

KEY = b"test-key-0123456789abcdef"


def _setup(policy, transport, **options):
    tx = KnowledgeBase()
    manager = SyncManager(tx, KEY, policy, **options)
    rx = SyncReceiver(KnowledgeBase(), KEY)
    manager.add_receiver("rx", transport, rx)
    return tx, manager, rx


def _change(tx: KnowledgeBase, i: int) -> None:
    tx.put(VOCABULARY, "en", f"vocabulary revision {i} ".encode() * 20, {"revision": i})


def test_push_sends_on_every_commit(fake_transport):
    transport = fake_transport()
    tx, manager, rx = _setup("push", transport)
    versions = []
    for i in range(3):
        _change(tx, i)
        versions.append(manager.commit(f"rev {i}", now=float(i)))
        assert rx.head == versions[-1]
    stats = manager.stats
    sizes = [len(payload) for _, payload in transport.sent]
    assert (stats.updates_sent, stats.accepted, stats.rejected, stats.failed) == (3, 3, 0, 0)
    assert stats.update_bytes == sum(sizes) and stats.bits == 8 * sum(sizes)
    assert stats.channel_uses == sum(-(-8 * s // 2) for s in sizes)
    assert manager.receiver_stats("rx") == stats
    assert manager.view("rx").acked_version == versions[-1]
    assert [e.trigger for e in manager.history] == ["commit"] * 3
    assert [e.sequence for e in manager.history] == [1, 2, 3]
    assert manager.history[1].from_version == versions[0]  # diffs from what the receiver holds
    assert manager.tick(10.0) == []  # nothing pending


@pytest.mark.parametrize("failure, reason", [("drop", "lost"), ("truncate", "truncated"), ("corrupt", "integrity")])
def test_failed_transfer_leaves_old_version_and_is_retried(fake_transport, failure, reason):
    transport = fake_transport(["deliver", failure])
    tx, manager, rx = _setup("push", transport)
    _change(tx, 0)
    v1 = manager.commit("v1")
    _change(tx, 1)
    v2 = manager.commit("v2")
    event = manager.history[-1]
    assert not event.accepted and event.reason == reason
    assert rx.head == v1 and rx.kb.get(VOCABULARY, "en").meta == {"revision": 0}
    assert rx.kb.verify() == []
    assert manager.view("rx").pending and manager.view("rx").acked_version == v1
    stats = manager.stats
    assert stats.failed == (0 if failure == "corrupt" else 1)  # a corruption the link missed looks ok to it
    assert stats.rejected == (0 if failure == "drop" else 1)
    if failure != "drop":
        assert stats.rejections == {reason: 1}
    (retry,) = manager.tick(1.0)
    assert retry.trigger == "retry" and retry.accepted and retry.sequence == 3
    assert rx.head == v2 and not manager.view("rx").pending
    assert (manager.stats.updates_sent, manager.stats.accepted) == (3, 2)


def test_periodic_coalesces_commits_and_retries_next_period(fake_transport):
    transport = fake_transport(["drop"])
    tx, manager, rx = _setup("periodic", transport, period=10.0)
    assert manager.tick(0.0) == []  # nothing committed yet
    for i in range(3):
        _change(tx, i)
        manager.commit(f"rev {i}", now=1.0 + i)
    assert rx.head is None and manager.stats.updates_sent == 0  # waits for the period
    (lost,) = manager.tick(10.0)
    assert lost.reason == "lost" and rx.head is None
    assert manager.tick(15.0) == []  # no retry before the next period
    (ok,) = manager.tick(20.5)
    assert ok.accepted and rx.head == tx.head
    assert manager.tick(25.0) == [] and manager.tick(30.0) == []  # up to date: nothing sent
    stats = manager.stats
    assert (stats.updates_sent, stats.accepted, stats.failed) == (2, 1, 1)
    assert manager.next_due == 40.0
    with pytest.raises(KnowledgeBaseError, match="period"):
        SyncManager(tx, KEY, "periodic")


def test_on_demand_sends_only_when_a_header_mismatches(fake_transport):
    transport = fake_transport(["truncate"])
    tx, manager, rx = _setup("on_demand", transport)
    _change(tx, 0)
    v1 = manager.commit("v1")
    assert manager.tick(5.0) == [] and rx.head is None
    assert rx.needs_update(manager.header_tag())
    failed = manager.on_packet("rx", now=6.0)
    assert failed.trigger == "request" and failed.reason == "truncated" and rx.head is None
    ok = manager.on_packet("rx", now=7.0)  # the next packet still mismatches: asks again
    assert ok.accepted and rx.head == v1
    assert manager.on_packet("rx", now=8.0) is None  # tags match: no request
    assert rx.tag() == manager.header_tag() == tx.short_id(bits=16)
    stats = manager.stats
    assert (stats.requests, stats.updates_sent, stats.accepted, stats.rejected, stats.failed) == (2, 2, 1, 1, 1)
    assert stats.rejections == {"truncated": 1}


def test_policies_overhead_on_one_scenario(fake_transport):
    """Five commits and a data packet every time unit, under each policy."""
    results = {}
    for policy in ("push", "periodic", "on_demand"):
        tx, manager, rx = _setup(policy, fake_transport(), period=4.0)
        for t in range(12):
            if t in (0, 1, 2, 6, 7):
                _change(tx, t)
                manager.commit(f"t={t}", now=float(t))
            manager.tick(float(t))
            if t in (3, 9):
                manager.on_packet("rx", now=float(t))
        manager.tick(12.0)
        assert rx.head == tx.head
        results[policy] = manager.stats
    assert results["push"].updates_sent == 5
    assert results["periodic"].updates_sent == 3  # at t=0, 4 and 8
    assert results["on_demand"].updates_sent == 2 and results["on_demand"].requests == 2
    assert results["push"].bits > results["on_demand"].bits
    for stats in results.values():
        assert stats.accepted == stats.updates_sent and stats.bits == 8 * stats.update_bytes


def test_manager_recovers_from_a_wrong_view_of_the_receiver(fake_transport):
    tx, manager, rx = _setup("push", fake_transport())
    _change(tx, 0)
    v1 = tx.commit("v1")
    # The receiver got v1 out of band, with a sequence number the manager never used.
    apply_update(rx.kb, make_update(tx, None, v1, 50, KEY), KEY)
    _change(tx, 1)
    v2 = manager.commit("v2")
    event = manager.history[-1]
    assert event.reason == "replay" and event.from_version == EMPTY_VERSION
    view = manager.view("rx")
    assert view.acked_version == v1 and view.next_sequence == 51  # learnt from the acknowledgement
    (event,) = manager.tick(1.0)
    assert event.accepted and event.sequence == 51 and event.from_version == v1 and rx.head == v2
    # The receiver falls back to v1 on its own: the next update's base is wrong.
    rx.kb.checkout(v1)
    _change(tx, 2)
    v3 = manager.commit("v3")
    assert manager.history[-1].reason == "base-mismatch" and rx.head == v1
    (event,) = manager.tick(2.0)
    assert event.accepted and event.from_version == v1 and rx.head == v3
    assert manager.stats.rejections == {"replay": 1, "base-mismatch": 1}


def test_several_receivers_are_tracked_separately(fake_transport):
    tx = KnowledgeBase()
    manager = SyncManager(tx, KEY, "push")
    good, bad = SyncReceiver(KnowledgeBase(), KEY), SyncReceiver(KnowledgeBase(), KEY)
    manager.add_receiver("good", IdealTransport(bits_per_channel_use=4), good)
    manager.add_receiver("bad", fake_transport(default="drop"), bad)
    tx.put(CODEBOOK, "cb", bytes(100))
    v1 = manager.commit("v1")
    assert good.head == v1 and bad.head is None
    assert manager.receiver_stats("good").accepted == 1 and manager.receiver_stats("bad").failed == 1
    event = manager.history[0]
    assert event.channel_uses == -(-event.bits // 4)
    assert manager.stats.updates_sent == 2
    with pytest.raises(KnowledgeBaseError, match="already registered"):
        manager.add_receiver("good", IdealTransport(), good)
    with pytest.raises(KnowledgeBaseError, match="unknown receiver"):
        manager.view("nobody")
    with pytest.raises(KnowledgeBaseError, match="unknown sync policy"):
        SyncManager(tx, KEY, "sometimes")


def test_ed25519_and_known_starting_version(fake_transport):
    from knowledge_base import Ed25519Signer

    signer = Ed25519Signer.generate()
    tx = KnowledgeBase()
    tx.put(VOCABULARY, "en", b"shared at deployment")
    v1 = tx.commit("factory")
    rx_kb = KnowledgeBase()
    apply_update(rx_kb, make_update(tx, None, v1, 1, signer), signer.verifier())
    manager = SyncManager(tx, signer, "periodic", period=1.0, compression="lzma")
    rx = SyncReceiver(rx_kb, signer.verifier())
    manager.add_receiver("rx", fake_transport(), rx, acked_version=v1)
    manager.view("rx").next_sequence = 2
    assert manager.tick(0.0) == []  # already in step
    tx.put(VOCABULARY, "de", b"neu")
    v2 = manager.commit("v2")
    (event,) = manager.tick(1.0)
    assert event.accepted and event.from_version == v1 and rx.head == v2


@pytest.mark.parametrize("algorithm", ["hmac", "ed25519"])
def test_sync_with_either_signature_and_receivers_that_only_verify(fake_transport, algorithm):
    from knowledge_base import Ed25519Signer, Ed25519Verifier, HmacSigner, HmacVerifier

    if algorithm == "ed25519":
        signer = Ed25519Signer.generate()
        verifier, other = Ed25519Verifier(signer.public_bytes()), HmacVerifier(KEY)
    else:
        signer, verifier, other = HmacSigner(KEY), HmacVerifier(KEY), Ed25519Signer.generate().verifier()
    tx = KnowledgeBase()
    manager = SyncManager(tx, signer, "push")
    rx, wrong = SyncReceiver(KnowledgeBase(), verifier), SyncReceiver(KnowledgeBase(), other)
    manager.add_receiver("rx", fake_transport(["corrupt"]), rx)
    manager.add_receiver("wrong", fake_transport(), wrong)
    _change(tx, 0)
    manager.commit("v1", now=0.0)
    assert rx.head is None and wrong.head is None
    (retry,) = [e for e in manager.tick(1.0) if e.receiver == "rx"]
    assert retry.accepted and rx.head == tx.head and rx.kb.last_sequence == retry.sequence
    _change(tx, 1)
    manager.commit("v2", now=2.0)
    assert rx.head == tx.head and wrong.head is None
    assert manager.receiver_stats("rx").rejections == {"integrity": 1}
    assert manager.receiver_stats("wrong").rejections == {"signature": 3}
    with pytest.raises(KnowledgeBaseError, match="Verifier"):
        SyncReceiver(KnowledgeBase(), signer)  # a receiver is given what verifies, never what signs
