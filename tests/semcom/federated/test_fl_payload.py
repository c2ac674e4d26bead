"""Broadcasts and updates as bytes: round trips within the stated error, the checksum, malformed payloads."""

from __future__ import annotations

import numpy as np
import pytest

from semcom.errors import ConfigError
from semcom.federated.payload import (Broadcast, PayloadRejected, Schema, Update, UpdateCodec, decode_broadcast,
                                      decode_update, encode_broadcast, encode_update, error_feedback_step,
                                      varint_decode, varint_encode)


def arrays(seed=0):
    rng = np.random.default_rng(seed)
    return {"w": rng.standard_normal((7, 5)).astype(np.float32) * 0.1, "b": rng.standard_normal(5).astype(np.float32),
            "s": np.float32(rng.standard_normal((1,))) * np.ones(1, np.float32)}


def update(delta, **kw):
    return Update(**{"round": 3, "client": 1, "num_examples": 40, "loss": 2.5, "flops": 1e9, "delta": delta, **kw})


def test_broadcast_round_trip_is_exact():
    a = arrays()
    got = decode_broadcast(encode_broadcast(Broadcast(7, a, {"lr": 0.01, "local-steps": 5, "name": "x"})))
    assert got.round == 7 and got.config == {"lr": 0.01, "local-steps": 5, "name": "x"}
    assert list(got.arrays) == list(a) and all(np.array_equal(got.arrays[k], a[k]) for k in a)


def test_float32_update_is_exact_and_costs_four_bytes_a_value():
    a = arrays()
    payload, sent = encode_update(update(a), Schema.of(a), UpdateCodec())
    got = decode_update(payload, Schema.of(a))
    assert (got.round, got.client, got.num_examples, got.loss, got.flops) == (3, 1, 40, 2.5, 1e9)
    assert all(np.array_equal(got.delta[k], a[k]) and np.array_equal(sent[k], a[k]) for k in a)
    header = len(encode_update(update({}), Schema((), ()), UpdateCodec())[0])
    assert len(payload) == header + 4 * Schema.of(a).size


def test_float16_update_within_relative_error():
    a = arrays()
    payload, sent = encode_update(update(a), Schema.of(a), UpdateCodec("float16"))
    got = decode_update(payload, Schema.of(a))
    for k in a:
        assert np.array_equal(got.delta[k], sent[k])
        assert np.all(np.abs(got.delta[k] - a[k]) <= 2.0**-11 * np.abs(a[k]) + 2.0**-25)


def test_int8_update_within_half_a_step():
    a = arrays()
    payload, _ = encode_update(update(a), Schema.of(a), UpdateCodec("int8"))
    got = decode_update(payload, Schema.of(a))
    for k in a:
        step = np.abs(a[k]).max() / 127
        assert np.abs(got.delta[k] - a[k]).max() <= step / 2 * (1 + 1e-6)
    header = len(encode_update(update({}), Schema((), ()), UpdateCodec())[0])
    assert len(payload) == header + sum(4 + v.size for v in a.values())  # a float32 scale, then a byte a value


def test_topk_keeps_the_largest_values_exactly_and_zeroes_the_rest():
    rng = np.random.default_rng(3)
    a = {"w": rng.standard_normal((50, 40)).astype(np.float32)}
    payload, sent = encode_update(update(a), Schema.of(a), UpdateCodec("float32", 0.1))
    got = decode_update(payload, Schema.of(a)).delta["w"]
    kept = got != 0
    assert kept.sum() == 200
    assert np.array_equal(got[kept], a["w"][kept])
    assert np.abs(a["w"][~kept]).max() <= np.abs(a["w"][kept]).min()
    assert np.array_equal(got, sent["w"])
    assert len(payload) < 0.15 * 4 * a["w"].size + 100  # values + about one byte of index gap each


def test_varints_round_trip():
    values = np.array([0, 1, 127, 128, 300, 16383, 16384, 2**21, 2**35 - 1], dtype=np.int64)
    data = varint_encode(values)
    got, end = varint_decode(data + b"\x05", 0, len(values))
    assert np.array_equal(got, values) and end == len(data)
    with pytest.raises(ConfigError):
        varint_encode(np.array([-1]))


def test_error_feedback_loses_nothing_over_rounds():
    rng = np.random.default_rng(1)
    schema = Schema.of({"w": np.zeros(300, np.float32)})
    codec, residual, total_sent, total_wanted = UpdateCodec("int8", 0.05), None, 0, 0
    for r in range(6):
        delta = {"w": rng.standard_normal(300).astype(np.float32)}
        payload, residual = error_feedback_step(delta, residual, schema, codec, round=r, client=0, num_examples=1,
                                                loss=0.0, flops=0.0)
        total_sent = total_sent + decode_update(payload, schema).delta["w"]
        total_wanted = total_wanted + delta["w"]
    assert np.allclose(total_sent + residual["w"], total_wanted, atol=1e-5)


@pytest.mark.parametrize("where", ["header", "body", "checksum"])
def test_a_corrupted_update_is_rejected_by_its_checksum(where):
    a = arrays()
    payload, _ = encode_update(update(a), Schema.of(a), UpdateCodec("int8", 0.5))
    position = {"header": 6, "body": len(payload) // 2, "checksum": len(payload) - 1}[where]
    for bit in range(8):
        bad = bytearray(payload)
        bad[position] ^= 1 << bit
        with pytest.raises(PayloadRejected) as err:
            decode_update(bytes(bad), Schema.of(a))
        assert err.value.reason == "checksum"
    broadcast = bytearray(encode_broadcast(Broadcast(1, a)))
    broadcast[20] ^= 4
    with pytest.raises(PayloadRejected, match="checksum"):
        decode_broadcast(bytes(broadcast))


def test_truncated_foreign_and_mismatched_payloads_are_refused():
    a = arrays()
    payload, _ = encode_update(update(a), Schema.of(a), UpdateCodec())
    with pytest.raises(PayloadRejected) as err:
        decode_update(payload[:3], Schema.of(a))
    assert err.value.reason == "malformed"
    with pytest.raises(PayloadRejected) as err:
        decode_update(payload[:-9] + payload[-4:], Schema.of(a))
    assert err.value.reason == "checksum"
    with pytest.raises(PayloadRejected) as err:
        decode_update(payload, Schema.of({"w": a["w"]}))
    assert err.value.reason == "schema"
    with pytest.raises(PayloadRejected) as err:
        decode_update(encode_broadcast(Broadcast(1, a)), Schema.of(a))
    assert err.value.reason == "checksum" or err.value.reason == "malformed"


def test_bad_codec_settings_are_refused():
    with pytest.raises(ConfigError):
        UpdateCodec("int4")
    with pytest.raises(ConfigError):
        UpdateCodec("float32", 1.5)
    with pytest.raises(ConfigError):
        encode_update(update({"w": np.ones(3, np.float32) * 1e6}), Schema.of({"w": np.ones(3)}), UpdateCodec("float16"))
