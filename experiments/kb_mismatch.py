"""Prompt fidelity with the receiver's knowledge base one version behind, before and after a
KB sync over the simulated link.

Each end decodes with the prompt codec its knowledge base holds (semcom.semantic.knowledge):
the sender's KB v2 holds an n-gram codec built from the first N2 Flickr8k captions; the
receiver holds v1, built from the first N1 < N2. The edge sends Kodak images through the gai
scheme's halves (reference captions as prompts, semantic-communication service). Prompts coded
with v2 carry v2's short version id as tag: the receiver refuses them ("kb-version-mismatch")
and generates from its fallback prompt. Then the sender sends the signed v1 -> v2 update over the downlink (LDPC + QAM over AWGN
at --snr-db), the receiver applies it and rebuilds its codec from its store, and the same prompts
decode exactly. Prints fidelity (token F1) before and after, and the sync's bits, channel uses
and time.

Run: .venv/bin/python experiments/kb_mismatch.py [--snr-db 10] [--n1 300] [--n2 1000] [--images 20]
"""

from __future__ import annotations

import argparse
import json

import torch

from knowledge_base import HmacSigner, HmacVerifier, KnowledgeBase
from semcom.generative import CAPTIONERS, KEYWORD_EXTRACTORS, FallbackGenerator
from semcom.images import list_images, load_image
from semcom.network import ControlPlane, Network, Node, SemanticCommunicationService, SimClock
from semcom.schemes.gai import GenerativeReceiver, GenerativeTransmitter, PromptBuilder
from semcom.semantic import TextCodec, default_data_dir, load_flickr8k_captions
from semcom.semantic.knowledge import codec_from_kb, codec_info, put_codec

KEY = b"kb-mismatch-experiment-key-0123"


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--snr-db", type=float, default=10.0)
    ap.add_argument("--n1", type=int, default=300, help="captions behind KB v1")
    ap.add_argument("--n2", type=int, default=1000, help="captions behind KB v2")
    ap.add_argument("--images", type=int, default=20, help="Kodak images sent (their reference captions are the prompts)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)

    captions = load_flickr8k_captions(default_data_dir() / "flickr8k-captions" / "Flickr8k.token.txt")
    v1_codec = TextCodec.from_corpus(captions[: args.n1])
    v2_codec = TextCodec.from_corpus(captions[: args.n2])
    kodak = default_data_dir() / "kodak"
    images = [load_image(path) for path in list_images(kodak)[: args.images]]
    captioner = CAPTIONERS.create("reference", captions=kodak / "captions.json")

    net = Network()
    net.add_node(Node("edge", "edge", 1e14, 2**36, ("captioner",)))
    net.add_node(Node("ue", "device", 2e13, 2**33, ("generator",)))
    net.add_link("edge", "ue", snr_db=args.snr_db, bandwidth_hz=1e6, latency_s=0.001)

    sender_kb, receiver_kb = KnowledgeBase(), KnowledgeBase()
    for kb in (sender_kb, receiver_kb):
        put_codec(kb, v1_codec, details={"captions": args.n1})
        v1 = kb.commit("v1")

    clock = SimClock()
    plane = ControlPlane(net, "edge", sender_kb, HmacSigner(KEY), policy="on_demand", clock=clock, seed=args.seed)
    plane.attach("ue", receiver_kb, HmacVerifier(KEY), acked_version=v1)
    put_codec(sender_kb, v2_codec, details={"captions": args.n2})
    v2 = plane.commit("v2")

    service = SemanticCommunicationService()
    sender_codec = codec_from_kb(sender_kb)
    transmitter = GenerativeTransmitter(captioner, KEYWORD_EXTRACTORS.create("none"), PromptBuilder("caption", None),
                                        sender_codec)

    def send_all(tag: str) -> dict:
        gen = torch.Generator().manual_seed(args.seed)
        receiver = GenerativeReceiver(codec_from_kb(receiver_kb), FallbackGenerator("generation not drawn"),
                                      fallback_prompt="a photo")
        fids, exact, reasons, bits = [], [], {}, 0
        for image in images:
            r = service.run(net, SimClock(), sender="edge", images={"ue": image}, transmitters={"ue": transmitter},
                            receivers={"ue": receiver}, generator=gen)
            d = r.details[0]
            fids.append(d["fidelity"])
            exact.append(d["exact"])
            bits += r.bits
            if d["reason"]:
                reasons[d["reason"]] = reasons.get(d["reason"], 0) + 1
        return {"stage": tag, "mean_fidelity": sum(fids) / len(fids), "exact_rate": sum(exact) / len(exact),
                "prompt_bits_mean": bits / len(images), "failures": reasons}

    before = send_all("before sync")
    # a data packet with v2's tag reaches the receiver: on-demand sync over the link
    event = plane.manager.on_packet("ue", now=float(clock.now))
    after = send_all("after sync")
    out = {
        "snr_db": args.snr_db,
        "kb": {"v1": v1[:12], "v2": v2[:12], "v1_codec_bytes": codec_info(sender_kb, v1).size,
               "v2_codec_bytes": codec_info(sender_kb, v2).size, "v1_tag": codec_info(sender_kb, v1).kb_version,
               "v2_tag": sender_codec.kb_version, "receiver_head_is_v2": receiver_kb.head == v2},
        "before": before,
        "after": after,
        "sync": {"update_bytes": event.update_bytes if event else 0, "bits": event.bits if event else 0,
                 "channel_uses": event.channel_uses if event else 0, "accepted": bool(event and event.accepted),
                 "seconds": float(clock.now), "overhead": plane.overhead()["total"]},
    }
    if args.json:
        print(json.dumps(out, indent=1))
    else:
        kb = out["kb"]
        print(f"KB v1 codec {kb['v1_codec_bytes']} B ({args.n1} captions, tag {kb['v1_tag']}), "
              f"v2 codec {kb['v2_codec_bytes']} B ({args.n2} captions, tag {kb['v2_tag']}); AWGN {args.snr_db} dB")
        for s in (before, after):
            print(f"{s['stage']:>12}: mean fidelity {s['mean_fidelity']:.3f}, exact {s['exact_rate']:.2f}, "
                  f"prompt bits {s['prompt_bits_mean']:.1f}, failures {s['failures']}")
        sy = out["sync"]
        print(f"sync: update {sy['update_bytes']} B, {sy['bits']} bits, {sy['channel_uses']} channel uses, "
              f"{sy['seconds'] * 1e3:.2f} ms, accepted {sy['accepted']}, receiver on v2: {out['kb']['receiver_head_is_v2']}")
    return out


if __name__ == "__main__":
    main()
