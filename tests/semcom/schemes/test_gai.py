"""The generative scheme gai end to end: pipeline halves over the link, fallbacks, eval, knowledge base."""

import json
import warnings

import numpy as np
import pytest
import torch
from skimage import data

from semcom.cli import main
from semcom.errors import ConfigError
from semcom.images import save_image
from semcom.schemes import make_scheme
from semcom.schemes.gai import GenerativeScheme, get_text_codec, send_message

CAPTION_A = "a woman in a white shirt standing in front of a red wall"
CAPTION_B = "a cup of coffee on a wooden table"


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("gai")
    save_image(root / "a.png", data.astronaut()[:48, :64])
    save_image(root / "b.png", data.coffee()[200:240, 300:356])
    captions = {"images": {"a.png": {"caption": CAPTION_A, "keywords": ["woman", "red wall"]},
                           "b.png": {"caption": CAPTION_B, "keywords": ["coffee", "table"]}}}
    (root / "captions.json").write_text(json.dumps(captions))
    return root


@pytest.fixture(scope="module")
def tiny():
    return make_scheme("gai", captioner="tiny-vit-gpt2", generator="tiny-stable-diffusion", keywords="yake",
                       keyword_packet=True, arq=1)


@pytest.fixture(scope="module")
def codec():
    return get_text_codec()


def image(seed=0, shape=(40, 56)):
    return np.random.default_rng(seed).integers(0, 256, (*shape, 3)).astype(np.uint8)


def test_end_to_end_high_snr_prompt_arrives_exactly(tiny):
    img = image()
    result = tiny.transmit(img, 15.0, generator=torch.Generator().manual_seed(3))
    assert not result.failed and result.reconstruction.shape == img.shape
    assert result.reconstruction.dtype == np.uint8
    m = result.metrics
    assert m["prompt_exact"] == 1.0 and m["word_error_rate"] == 0.0 and m["semantic_similarity"] == pytest.approx(1.0)
    assert 0 < m["prompt_bits"] <= 100
    d = result.details
    assert d["received_prompt"] == d["sent_prompt"] and d["sent_prompt"]
    assert d["reconstruction"] == "text-to-image" and d["code"] == "polar"
    assert "test double" in d["models"]["captioner"] and "test double" in d["models"]["generator"]
    # bits: prompt plus the keyword packet; the link's cost is counted
    assert result.bits >= m["prompt_bits"] and result.coded_bits > result.bits and result.channel_uses > 0


def test_end_to_end_very_low_snr_records_the_failure(tiny):
    img = image(1)
    result = tiny.transmit(img, -15.0, generator=torch.Generator().manual_seed(0))
    assert result.reconstruction.shape == img.shape
    d = result.details
    assert d["prompt_ok"] is False and d["prompt_failure"] and d["arq_rounds"] == 1
    assert result.metrics["prompt_exact"] == 0.0
    if result.failed:  # nothing arrived: mid-grey
        assert d["received_prompt"] is None and (result.reconstruction == 128).all()
        assert result.metrics["semantic_similarity"] == 0.0
    else:  # the keyword packet got through
        assert d["prompt_source"] == "keyword-fallback"


class _FailingFirstDecode:
    """A codec whose first decode fails (as a corrupted prompt would); later ones are real."""

    def __init__(self, codec):
        self.codec, self.calls = codec, 0

    def __getattr__(self, name):
        return getattr(self.codec, name)

    def decode(self, bits):
        self.calls += 1
        out = self.codec.decode(bits)
        if self.calls == 1:
            return type(out)("", False, "crc", out.num_bits)
        return out


def test_codec_failure_falls_back_to_the_keyword_packet(codec):
    scheme = make_scheme("gai", captioner="tiny-vit-gpt2", generator="fallback", keywords="yake",
                         keyword_packet=True, similarity=False)
    scheme.receiver.codecs = [_FailingFirstDecode(codec)]  # the receiver half decodes with it
    result = scheme.transmit(image(2), 20.0, generator=torch.Generator().manual_seed(0))
    d = result.details
    assert not result.failed and d["prompt_failure"] == "crc" and d["prompt_source"] == "keyword-fallback"
    assert d["received_prompt"] == d["sent_keyword_packet"] and result.metrics["prompt_exact"] == 0.0
    assert d["generator"].startswith("fallback:")


def test_img2img_with_side_information(codec):
    scheme = make_scheme("gai", captioner="tiny-vit-gpt2", generator="tiny-stable-diffusion", side_info="thumbnail",
                         side_bits=600, similarity=False)
    img = image(3, (48, 64))
    result = scheme.transmit(img, 15.0, generator=torch.Generator().manual_seed(0))
    d = result.details
    assert d["reconstruction"] == "img2img" and d["side_info_ok"]
    assert 0 < d["side_info_bits"] <= 600
    assert result.bits == result.metrics["prompt_bits"] + d["side_info_bits"]
    assert result.reconstruction.shape == img.shape


def test_refiner_on_the_side_information_when_the_generator_is_missing(folder):
    with pytest.warns(UserWarning, match="refiner trained here"):
        scheme = GenerativeScheme.from_config(captions=folder / "captions.json", generator="stable-diffusion",
                                              generator_model=str(folder / "no-such-model"), side_info="thumbnail",
                                              side_codec="avif", thumb_scale=8, side_bits=1900, similarity=False)
    assert scheme.describe()["generator_kind"] == "trained here"
    img = data.astronaut()[:48, :64].copy()
    result = scheme.transmit(img, 15.0, generator=torch.Generator().manual_seed(0))
    d = result.details
    assert d["generator"] == "refiner" and d["reconstruction"] == "refiner: side information refined"
    assert d["received_prompt"] == CAPTION_A
    assert result.bits == result.metrics["prompt_bits"] + result.metrics["side_info_bits"] <= 2000
    assert np.abs(result.reconstruction.astype(float) - img).mean() < 60  # the refined thumbnail, not grey
    # the side-information packet lost on the link: prompt only, labelled fallback (grey)
    message = scheme.transmitter.encode(img)
    received = send_message(message, scheme.link, 15.0, scheme.receiver, generator=torch.Generator().manual_seed(0))
    received.side_info = None
    recon, made = scheme.receiver.reconstruct(received, message.shape)
    assert made["reconstruction"].startswith("fallback: side information lost") and not made["side_info_ok"]
    assert np.all(recon == recon[0, 0])


def test_side_information_alone_without_the_refiner_checkpoint(folder, monkeypatch):
    import semcom.generative.refiner_checkpoint as ck

    monkeypatch.setattr(ck, "CHECKPOINT_ROOT", folder / "no-checkpoints")
    with pytest.warns(UserWarning, match="fallback"):
        scheme = GenerativeScheme.from_config(captions=folder / "captions.json", generator="stable-diffusion",
                                              generator_model=str(folder / "no-such-model"), side_info="thumbnail",
                                              similarity=False)
    assert scheme.describe()["generator_kind"] == "fallback"
    img = data.astronaut()[:48, :64].copy()
    result = scheme.transmit(img, 15.0, generator=torch.Generator().manual_seed(0))
    assert result.details["generator"].startswith("fallback: ") and "no-such-model" in result.details["generator"]
    assert np.abs(result.reconstruction.astype(float) - img).mean() < 60  # the upsampled thumbnail, not grey


def test_generator_device_is_checked_before_anything_loads(capsys):
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    code = main(["eval", "--scheme", "gai", "--captioner", "tiny-vit-gpt2", "--generator", "tiny-stable-diffusion",
                 "--device", "cuda", "--limit", "1", "--snr-db", "10"])
    assert code == 2 and "no CUDA device" in capsys.readouterr().err


def test_semcom_eval_gai(folder, capsys):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        code = main(["eval", "--scheme", "gai", "--captioner", "reference", "--captions", str(folder / "captions.json"),
                     "--generator", "tiny-stable-diffusion", "--images", str(folder), "--snr-db", "10",
                     "--json"])
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    (record,) = out["summary"]
    for key in ("prompt_bits", "prompt_exact", "semantic_similarity", "word_error_rate", "keyword_recall", "bits_per_image"):
        assert key in record
    assert record["prompt_exact"] == 1.0 and record["images"] == 2 and record["failures"] == 0
    assert out["scheme"]["captioner"] == "reference" and out["scheme"]["generator"] == "tiny-stable-diffusion"
    sent = {r["details"]["sent_prompt"] for r in out["images"]}
    assert sent == {CAPTION_A, CAPTION_B}


def test_semcom_eval_gai_prompt_budget_and_codec(tmp_path, capsys):
    long_caption = ("a man in a blue jacket riding a brown horse along a snowy mountain road next to a frozen "
                    "lake under a cloudy sky")
    save_image(tmp_path / "a.png", data.astronaut()[:48, :64])
    (tmp_path / "long.json").write_text(json.dumps({"images": {"a.png": {"caption": long_caption}}}))
    args = ["eval", "--scheme", "gai", "--captioner", "reference", "--captions", str(tmp_path / "long.json"),
            "--generator", "fallback", "--images", str(tmp_path), "--snr-db", "10", "--json"]
    records = {}
    for codec, budget in (("ngram", "0"), ("neural", "0"), ("neural", "100")):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            assert main([*args, "--text-codec", codec, "--prompt-bits", budget]) == 0
        out = json.loads(capsys.readouterr().out)
        assert out["scheme"]["text_codec"] == codec
        records[codec, budget] = out["images"][0]
    for key in (("ngram", "0"), ("neural", "0")):  # no budget: the whole caption, exactly
        details = records[key]["details"]
        assert details["sent_prompt"] == details["received_prompt"] == long_caption
        assert not details["prompt_truncated"]
        assert records[key]["semantic_similarity"] == records[key]["caption_similarity"] == 1.0
    cut = records["neural", "100"]
    assert cut["details"]["prompt_truncated"] and long_caption.startswith(cut["details"]["sent_prompt"])
    # the cut prompt arrives exactly, but only part of the caption's meaning does
    assert cut["prompt_exact"] == 1.0 and cut["semantic_similarity"] == 1.0
    assert 0.3 < cut["caption_similarity"] < 1.0
    with pytest.raises(Exception, match="prompt_bits"):
        make_scheme("gai", captioner="tiny-vit-gpt2", generator="fallback", prompt_bits=-1)
    with pytest.raises(ConfigError, match="prompt_bits must be above the neural codec's 22-bit header"):
        make_scheme("gai", captioner="tiny-vit-gpt2", generator="fallback", prompt_bits=22)


def test_gai_decodes_with_the_codec_its_knowledge_base_holds(folder, tmp_path, capsys):
    from knowledge_base import KnowledgeBase
    from semcom.semantic import TextCodec
    from semcom.semantic.knowledge import put_codec

    store = tmp_path / "kb.sqlite"
    with KnowledgeBase(store) as kb:
        put_codec(kb, TextCodec.from_corpus([CAPTION_A, CAPTION_B, "a dog on the grass"]))
        head = kb.commit("v1")
        tag = kb.short_id(head, 8)
    scheme = make_scheme("gai", captions=folder / "captions.json", kb=str(store), generator="fallback",
                         prompt_bits=0, similarity=False)
    assert scheme.codec.kb_version == tag and scheme.describe()["kb_version"] == tag
    result = scheme.transmit(data.astronaut()[:48, :64].copy(), 10.0, generator=torch.Generator().manual_seed(0))
    assert result.details["received_prompt"] == CAPTION_A and result.metrics["prompt_exact"] == 1.0
    with pytest.raises(ConfigError, match="semcom kb init"):
        make_scheme("gai", captions=folder / "captions.json", kb=str(tmp_path / "missing.sqlite"), generator="fallback")
    assert main(["eval", "--scheme", "gai", "--captions", str(folder / "captions.json"), "--kb", str(store),
                 "--generator", "fallback", "--prompt-bits", "0", "--images", str(folder), "--snr-db", "10",
                 "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["scheme"]["kb_version"] == tag and out["summary"][0]["prompt_exact"] == 1.0


def test_controlnet_on_the_edge_map_through_the_real_pipelines():
    scheme = make_scheme("gai", captioner="tiny-vit-gpt2", generator="tiny-stable-diffusion", side_info="thumbnail",
                         side_bits=600, edges=True, edge_scale=2, similarity=False)
    assert scheme.generator.controlnet is not None and scheme.describe()["edges"]["side_info"] == "edges"
    img = image(5, (48, 64))
    result = scheme.transmit(img, 15.0, generator=torch.Generator().manual_seed(0))
    d = result.details
    assert d["reconstruction"] == "img2img + ControlNet (edges)" and d["edges_ok"] and d["side_info_ok"]
    assert result.bits == result.metrics["prompt_bits"] + d["side_info_bits"] + d["edge_bits"]
    assert result.metrics["side_info_bits"] == d["side_info_bits"] + d["edge_bits"]
    assert result.reconstruction.shape == img.shape
    text_only = make_scheme("gai", captioner="tiny-vit-gpt2", generator="tiny-stable-diffusion", edges=True,
                            edge_scale=2, similarity=False)
    out = text_only.transmit(img, 15.0, generator=torch.Generator().manual_seed(0))
    assert out.details["reconstruction"] == "text-to-image + ControlNet (edges)"


def test_edge_map_is_lossless_and_its_budget_holds():
    from semcom.generative.side_info import EdgeSideInfo

    side = EdgeSideInfo(scale=2, max_bits=100000)
    img = data.astronaut()[:96, :128].copy()
    enc = side.encode(img)
    edges = side.edges(img)
    decoded = side.decode(enc.data, (96, 128), enc.thumb_shape)
    assert enc.thumb_shape == edges.shape == (48, 64)
    assert np.array_equal(decoded[::2, ::2, 0] > 0, edges)  # every edge pixel back, nothing else
    assert EdgeSideInfo(scale=2, max_bits=8).encode(img).data is None  # over budget: not sent
    assert side.decode(b"not a png", (96, 128)) is None


def test_missing_controlnet_weights_are_named(folder):
    from semcom.errors import WeightsNotFoundError
    from semcom.generative.generator import StableDiffusionGenerator
    from semcom.testing import tiny_stable_diffusion

    with pytest.raises(WeightsNotFoundError, match="ControlNet weights .*no-controlnet"):
        StableDiffusionGenerator(pipeline=tiny_stable_diffusion(0), device="cpu",
                                 controlnet=str(folder / "no-controlnet"))
