"""The model registry: deployments are signed KB updates over the links; a forged or tampered one is refused
and the node keeps serving the model it had."""

from __future__ import annotations

import struct
import zlib

import pytest
import torch

from knowledge_base import Ed25519Signer, KnowledgeBase, make_update
from semcom.errors import InputError
from semcom.jscc import JSCCConfig, JSCCModel
from semcom.network.clock import SimClock
from semcom.network.nodes import tiered_network
from semcom.optimisation.artefacts import artefact, decode_tensors, encode_tensors, module_from_bytes
from semcom.optimisation.registry import ModelRegistry, NetworkTransport, ServingNode, model_card

TINY = dict(widths=(8, 8, 8, 8), blocks=(0, 0, 0, 0), af_reduction=4)


def tiny_jscc(seed: int) -> JSCCModel:
    torch.manual_seed(seed)
    return JSCCModel(JSCCConfig(**TINY)).eval()


def outputs(model, x):
    with torch.no_grad():
        return model(x, 10.0, generator=torch.Generator().manual_seed(0)).reconstruction


def publish(registry, model, tag):
    data, meta = artefact("jscc", model, "safetensors")
    return registry.publish("jscc", data, family="jscc", format="safetensors", config=meta["config"],
                            parameters=meta["parameters"], metrics={"tag": tag})


@pytest.fixture
def deployment():
    network = tiered_network((1e9, 1e12, 1e13), (2**30, 2**34, 2**40), snr_db=20.0, bandwidth_hz=1e6)
    clock = SimClock()
    signer = Ed25519Signer.generate()
    registry = ModelRegistry(KnowledgeBase(), signer)
    node = ServingNode(KnowledgeBase(), signer.verifier(), "jscc")
    transport = NetworkTransport(network, "cloud", "ue", clock, mode="simulate", seed=0)
    registry.attach("ue", node, transport)
    return registry, node, transport, clock


def test_deployment_travels_over_the_links_and_is_charged(deployment):
    registry, node, transport, clock = deployment
    v1 = publish(registry, tiny_jscc(0), 1)
    event = registry.events()[-1]
    assert event.accepted and node.version == v1
    assert transport.path == ["cloud", "edge", "ue"]
    assert event.bits == 2 * 8 * event.update_bytes  # two hops, each carries the whole update
    assert clock.now > 0 and {c.target for c in clock.ledger} == {"cloud->edge", "edge->ue"}
    x = torch.rand(1, 3, 32, 32)
    assert torch.equal(outputs(node.module, x), outputs(tiny_jscc(0).half().float(), x))
    assert model_card(node.kb, "jscc").metrics == {"tag": 1}


def test_forged_update_is_refused_and_the_old_model_keeps_serving(deployment):
    registry, node, _, _ = deployment
    v1 = publish(registry, tiny_jscc(0), 1)
    x = torch.rand(1, 3, 32, 32)
    before, module = outputs(node.module, x), node.module
    # an attacker with its own key builds an update to a model of its own
    data, meta = artefact("jscc", tiny_jscc(1), "safetensors")
    registry.kb.put("model", "jscc", data, {"family": "jscc", "format": "safetensors", "config": meta["config"],
                                            "parameters": meta["parameters"]})
    v2 = registry.kb.commit("not from the publisher's key")
    forged = make_update(registry.kb, v1, v2, 99, Ed25519Signer.generate())
    result = node.receive(forged)
    assert not result.accepted and result.reason == "signature"
    assert node.version == v1 and node.module is module
    assert torch.equal(outputs(node.module, x), before)


class TamperingTransport:
    """Flips a bit of the model bytes on the way and fixes the CRC, as an active attacker would."""

    def __init__(self, inner):
        self.inner = inner

    def __call__(self, payload: bytes):
        body = bytearray(payload[:-4])
        body[200] ^= 0x01
        tampered = bytes(body) + struct.pack(">I", zlib.crc32(bytes(body)))
        return self.inner(tampered)


def test_tampered_deployment_is_refused_then_a_genuine_one_is_taken():
    network = tiered_network((1e9, 1e12), (2**30, 2**34), snr_db=20.0, bandwidth_hz=1e6)
    signer = Ed25519Signer.generate()
    registry = ModelRegistry(KnowledgeBase(), signer)
    node = ServingNode(KnowledgeBase(), signer.verifier(), "jscc")
    inner = NetworkTransport(network, "edge", "ue", SimClock(), mode="plan")
    registry.attach("ue", node, inner)
    v1 = publish(registry, tiny_jscc(0), 1)
    module = node.module
    registry.manager.view("ue").transport = TamperingTransport(inner)
    publish(registry, tiny_jscc(1), 2)
    event = registry.events()[-1]
    assert not event.accepted and event.reason == "signature"
    assert node.version == v1 and node.module is module and len(node.refused) == 1
    registry.manager.view("ue").transport = inner
    registry.manager.tick(1.0)  # push retries what failed
    assert node.version == registry.kb.head and node.module is not module
    assert model_card(node.kb, "jscc").metrics == {"tag": 2}


def test_int8_weights_round_trip_within_half_a_step():
    model = tiny_jscc(0)
    tensors = {k: v for k, v in model.state_dict().items() if not k.startswith("link.")}
    back = decode_tensors(encode_tensors(tensors, "int8-weights"), "int8-weights")
    for k, v in tensors.items():
        if v.dim() >= 2:
            step = v.reshape(v.shape[0], -1).abs().amax(1) / 127
            err = (back[k] - v).reshape(v.shape[0], -1).abs().amax(1)
            assert torch.all(err <= step / 2 + 1e-7)
    data, meta = artefact("jscc", model, "int8-weights")
    assert len(data) < 0.4 * len(artefact("jscc", model, "safetensors", dtype=torch.float32)[0])
    module_from_bytes(data, meta)


def test_bytes_that_do_not_fit_the_config_are_refused():
    data, meta = artefact("jscc", tiny_jscc(0))
    meta["config"]["widths"] = [8, 8, 8, 16]
    with pytest.raises(InputError):
        module_from_bytes(data, meta)
    with pytest.raises(InputError):
        module_from_bytes(b"not safetensors", {"family": "jscc", "format": "safetensors", "config": {}})


def test_prompt_codec_and_models_share_one_catalogue():
    from semcom.semantic import TEXT_CODECS
    from semcom.semantic.knowledge import codec_from_kb

    network = tiered_network((1e9, 1e12), (2**30, 2**34), snr_db=20.0, bandwidth_hz=1e6)
    signer = Ed25519Signer.generate()
    registry = ModelRegistry(KnowledgeBase(), signer)
    node = ServingNode(KnowledgeBase(), signer.verifier(), "jscc")
    registry.attach("ue", node, NetworkTransport(network, "edge", "ue", SimClock(), mode="plan"))
    publish(registry, tiny_jscc(0), 1)
    codec = TEXT_CODECS.create("ngram")
    version = registry.publish_prompt_codec(codec, metrics={"mean_bits": 134.3}, details={"corpus": "flickr8k"})
    assert node.version == version  # pushed like any model
    catalogue = {c["family"]: c for c in registry.catalogue()}
    assert catalogue["prompt-codec"]["metrics"] == {"mean_bits": 134.3} and catalogue["jscc"]["metrics"] == {"tag": 1}
    received = codec_from_kb(node.kb)
    sent = codec_from_kb(registry.kb)
    bits = sent.encode("a dog runs on the beach").bits
    assert received.decode(bits).text == "a dog runs on the beach"
