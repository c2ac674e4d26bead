"""The generative semantic communication scheme ``gai``: send what the image shows, regenerate it at the receiver.

Transmitter: captioner -> keywords -> prompt within a bit budget -> text codec (header: KB version
tag + check bits) -> digital link (5G polar code, short payload), plus optional thumbnail side
information over the same link.
Receiver: decode the prompt; when the link CRC or the codec check fails, retransmit (``arq``
rounds) and then fall back to the separately sent keyword packet (``keyword_packet``); finally a
text-to-image (or image-to-image, with side information) generator draws the reconstruction at
the image's size.

Default link: fixed MCS 0 (QPSK, R = 205/1024) with the polar code. A 100-bit prompt takes one
polar block of 636 coded bits (318 channel uses, its 27 CRC bits included); SCL-8 decoding of
that block succeeds at Es/N0 = 0 dB with a margin of about 4 dB over its waterfall, so the prompt
arrives exactly there, whereas link adaptation would pick faster MCSs whose gain (a few dozen
channel uses) is not worth a lost prompt.
"""

from __future__ import annotations

import os
import threading
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from channels import Channel
from semcom.errors import ConfigError, WeightsNotFoundError
from semcom.generative.captioner import CAPTIONERS, Captioner
from semcom.generative.generator import DEFAULT_SD, GENERATORS, FallbackGenerator, ImageGenerator
from semcom.generative.keywords import KEYWORD_EXTRACTORS, KeywordExtractor
from semcom.generative.prompt import MODES as PROMPT_MODES
from semcom.generative.prompt import build_prompt
from semcom.generative.semantic_metrics import (
    content_words,
    keyword_recall,
    prompt_exact,
    semantic_similarity,
    word_error_rate,
)
from semcom.generative.side_info import ThumbnailSideInfo
from semcom.generative.weights import FALLBACK
from semcom.images import check_image
from semcom.link.digital import DigitalLink
from semcom.link.mcs import MCS
from semcom.schemes.base import SCHEMES, Scheme, SchemeResult
from semcom.semantic import TEXT_CODECS, DecodedPrompt, TextCodec, default_data_dir, normalize_prompt

_CODECS: dict[tuple, TextCodec] = {}
_CODECS_LOCK = threading.Lock()


def get_text_codec(name: str = "neural", corpus: str | os.PathLike | None = None) -> TextCodec:
    """The prompt codec ``name``, loaded once per process: ``neural`` from its shipped checkpoint, the
    n-gram codecs from the Flickr8k captions under ``corpus`` (default: ``$SEMCOM_DATA`` or
    ``../shared/data``; cached on disk by the codec itself)."""
    root = Path(corpus).expanduser() if corpus is not None else default_data_dir()
    key = (name, str(root.resolve()))
    with _CODECS_LOCK:
        if key not in _CODECS:
            try:
                _CODECS[key] = TEXT_CODECS.create(name, data_dir=root)
            except WeightsNotFoundError:
                raise
            except FileNotFoundError as err:
                raise ConfigError(f"the text codec's knowledge base needs the Flickr8k captions: {err}; set "
                                  f"SEMCOM_DATA or pass corpus=DIR (--corpus DIR)") from err
        return _CODECS[key]


@SCHEMES.register("gai")
class GenerativeScheme(Scheme):
    """Generative semantic communication (see the module doc).

    captioner:        ``reference`` (default when ``captions`` is given), ``vit-gpt2`` (default otherwise),
                      ``tiny-vit-gpt2`` or any registered name; ``captioner_model``: its hub id or folder.
    captions:         captions JSON for the reference captioner (e.g. kodak/captions.json).
    keywords:         keyword extractor (``yake``, ``keybert``, ``none``); used by ``prompt_mode`` and the
                      keyword packet; without either, only for reporting nothing (not run).
    prompt_mode:      ``caption``, ``caption+keywords`` or ``keywords`` (:mod:`semcom.generative.prompt`).
    prompt_bits:      bit budget of the encoded prompt, header included (0 or None: no budget, the
                      whole caption is sent losslessly).
    text_codec:       prompt codec: ``neural`` (default; n-gram + LSTM, its knowledge base ships with
                      semcom), ``ngram`` or ``unigram`` (built from the Flickr8k captions under ``corpus``).
    keyword_packet:   also send the keywords alone as a second packet, used when the prompt is lost.
    side_info:        ``none`` or ``thumbnail`` (``side_bits`` budget, ``thumb_size`` px, ``side_codec``).
    generator:        ``stable-diffusion`` (default), ``tiny-stable-diffusion``, ``fallback``; missing
                      weights fall back (with a warning and a ``fallback: ...`` label) unless ``strict``.
    generator_model, steps, guidance, scheduler, strength, resolution: generator settings.
    channel, mcs (index, or None for link adaptation), code (``polar``/``auto``/``ldpc``), arq, seed.
    similarity:       report MiniLM similarities: ``semantic_similarity`` (received vs sent prompt) and
                      ``caption_similarity`` (received prompt vs the whole caption, which a budget or the
                      ``keywords`` mode leaves below 1 even when every bit arrives).
    """

    name = "gai"

    def __init__(
        self,
        captioner: str | Captioner | None = None,
        captions: str | os.PathLike | None = None,
        captioner_model: str | None = None,
        keywords: str | KeywordExtractor = "yake",
        prompt_mode: str = "caption",
        prompt_bits: int | None = 100,
        text_codec: str = "neural",
        corpus: str | os.PathLike | None = None,
        keyword_packet: bool = False,
        keyword_bits: int = 48,
        side_info: str = "none",
        side_bits: int = 600,
        thumb_size: int = 16,
        side_codec: str = "webp",
        generator: str | ImageGenerator = "stable-diffusion",
        generator_model: str | None = None,
        steps: int | None = None,
        guidance: float | None = None,
        scheduler: str | None = None,
        strength: float | None = None,
        resolution: int | None = None,
        strict: bool = False,
        channel: Channel | str = "awgn",
        mcs: MCS | int | None = 0,
        code: str = "polar",
        arq: int = 0,
        seed: int | None = 0,
        similarity: bool = True,
        **channel_options,
    ):
        if not isinstance(arq, int) or arq < 0:
            raise ConfigError(f"arq must be a non-negative number of rounds, got {arq!r}")
        if side_info not in ("none", "thumbnail"):
            raise ConfigError(f"side_info must be 'none' or 'thumbnail', got {side_info!r}")
        seed0 = 0 if seed is None else int(seed)
        # -- captioner
        if isinstance(captioner, Captioner):
            self.captioner = captioner
        else:
            name = captioner or ("reference" if captions is not None else "vit-gpt2")
            opts: dict[str, Any] = {}
            if name == "reference":
                opts["captions"] = captions
            elif captioner_model is not None:
                opts["model"] = captioner_model
            if name.startswith("tiny-"):
                opts["seed"] = seed0
            self.captioner = CAPTIONERS.create(name, **opts)
        # -- keywords, prompt, codec
        self.keywords = keywords if isinstance(keywords, KeywordExtractor) else KEYWORD_EXTRACTORS.create(keywords)
        if prompt_bits is not None and (isinstance(prompt_bits, bool) or not isinstance(prompt_bits, int) or prompt_bits < 0):
            raise ConfigError(f"prompt_bits must be a number of bits (0 or None: no budget), got {prompt_bits!r}")
        self.prompt_mode, self.prompt_bits = prompt_mode, (prompt_bits or None)
        if prompt_mode not in PROMPT_MODES:
            raise ConfigError(f"unknown prompt mode {prompt_mode!r}; known: {', '.join(PROMPT_MODES)}")
        self.codec = get_text_codec(text_codec, corpus)
        if self.prompt_bits is not None and self.prompt_bits <= self.codec.header_bits:
            raise ConfigError(
                f"prompt_bits must be above the {self.codec.name} codec's {self.codec.header_bits}-bit header "
                f"(0: no budget), got {self.prompt_bits}"
            )
        self.keyword_packet, self.keyword_bits = bool(keyword_packet), int(keyword_bits)
        self.side = ThumbnailSideInfo(thumb_size, side_bits, side_codec) if side_info == "thumbnail" else None
        # -- generator (falls back when its weights are missing)
        self.generator = self._make_generator(generator, generator_model, steps, guidance, scheduler, strength,
                                              resolution, seed0, strict)
        # -- link
        self.arq = arq
        self.link = DigitalLink(channel, mcs=mcs, code=code, seed=seed, **channel_options)
        self.similarity = similarity

    @staticmethod
    def _make_generator(generator, model, steps, guidance, scheduler, strength, resolution, seed, strict):
        if isinstance(generator, ImageGenerator):
            return generator
        opts = {k: v for k, v in dict(steps=steps, guidance=guidance, scheduler=scheduler, strength=strength,
                                      resolution=resolution).items() if v is not None}
        if generator == "fallback":
            return FallbackGenerator("generator 'fallback' selected")
        if generator.startswith("tiny-"):
            opts["seed"] = seed
        elif model is not None:
            opts["model"] = model
        try:
            return GENERATORS.create(generator, **opts)
        except WeightsNotFoundError as err:
            if strict:
                raise
            warnings.warn(f"{err} -- using the fallback generator (side information or mid-grey)", stacklevel=3)
            return FallbackGenerator(f"{generator} weights {opts.get('model', DEFAULT_SD)!r} not found")

    def describe(self) -> dict[str, Any]:
        return {
            "scheme": self.name, "captioner": self.captioner.name, "captioner_model": self.captioner.model,
            "captioner_kind": self.captioner.kind, "keywords": self.keywords.name,
            "prompt_mode": self.prompt_mode, "prompt_bits": self.prompt_bits, "text_codec": self.codec.name,
            "kb_version": self.codec.kb_version, "keyword_packet": self.keyword_packet,
            "side_info": self.side.describe() if self.side else "none",
            **{f"generator_{k}" if k != "generator" else k: v for k, v in self.generator.describe().items()},
            "channel": self.link.channel_name,
            "mcs": None if self.link.mcs is None else str(self.link.mcs), "code": self.link.code, "arq": self.arq,
        }

    # ------------------------------------------------------------------------------ transmission
    def _send(self, bits: np.ndarray, snr_db: float, generator) -> tuple[np.ndarray | None, int, int, int, dict]:
        """Bits over the link with up to ``arq`` retransmissions: (received bits or None, coded, uses, rounds, info)."""
        coded = uses = rounds = 0
        info: dict[str, Any] = {}
        while True:
            sent = self.link.transmit_bits(bits, snr_db, generator=generator)
            coded += sent.coded_bits
            uses += sent.channel_uses
            info = {"mcs": str(sent.mcs), "code": sent.code, "below_threshold": sent.below_threshold}
            if sent.ok:
                return sent.bits, coded, uses, rounds, info
            if rounds >= self.arq:
                return None, coded, uses, rounds, info
            rounds += 1

    def _send_prompt(self, bits: np.ndarray, snr_db: float, generator) -> tuple[DecodedPrompt, int, int, int, dict]:
        """Prompt bits over the link and through the codec; retransmit on a link or codec failure."""
        coded = uses = rounds = 0
        while True:
            received, c, u, r, info = self._send(bits, snr_db, generator)
            coded, uses, rounds = coded + c, uses + u, rounds + r
            if received is None:
                decoded = DecodedPrompt("", False, "link-crc", int(bits.size))
            else:
                decoded = self.codec.decode(received)
            if decoded.ok or rounds >= self.arq:
                return decoded, coded, uses, rounds, info
            rounds += 1

    def transmit(self, image: np.ndarray, snr_db: float, generator: torch.Generator | None = None) -> SchemeResult:
        image = check_image(image)
        shape = image.shape[:2]
        cap = self.captioner.caption(image)
        use_keywords = self.prompt_mode != "caption" or self.keyword_packet
        kws = self.keywords.extract(cap.text) if use_keywords else []
        prompt = build_prompt(cap.text, kws, self.codec, self.prompt_bits, self.prompt_mode)
        details: dict[str, Any] = {
            "caption": cap.text, "sent_prompt": prompt.text, "prompt_truncated": prompt.truncated,
            "keywords": [k.text for k in kws], "kb_version": self.codec.kb_version,
            "models": {"captioner": f"{self.captioner.model} ({self.captioner.kind})",
                       "keywords": self.keywords.name,
                       "generator": f"{self.generator.model} ({self.generator.kind})"},
        }
        if cap.token_confidences:
            details["caption_confidence"] = float(np.mean(cap.token_confidences))

        decoded, coded, uses, rounds, link_info = self._send_prompt(prompt.encoded.bits, snr_db, generator)
        bits = prompt.num_bits
        details.update(link_info, arq_rounds=rounds, prompt_ok=decoded.ok, prompt_failure=decoded.reason or None)
        received_text, source = (decoded.text, "prompt") if decoded.ok else (None, None)

        if self.keyword_packet and kws:
            packet = build_prompt("", kws, self.codec, self.keyword_bits, "keywords")
            details["sent_keyword_packet"] = packet.text
            got, c, u, _, _ = self._send_prompt(packet.encoded.bits, snr_db, generator)
            bits, coded, uses = bits + packet.num_bits, coded + c, uses + u
            if received_text is None and got.ok:
                received_text, source = got.text, "keyword-fallback"

        init_image = None
        if self.side is not None:
            side = self.side.encode(image)
            details["side_info_bits"] = side.bits
            if side.data is not None:
                side_bits = np.unpackbits(np.frombuffer(side.data, dtype=np.uint8))
                got_bits, c, u, _, _ = self._send(side_bits, snr_db, generator)
                bits, coded, uses = bits + side.bits, coded + c, uses + u
                if got_bits is not None:
                    init_image = self.side.decode(np.packbits(got_bits).tobytes(), shape, side.thumb_shape)
            details["side_info_ok"] = init_image is not None

        failed = received_text is None
        details["received_prompt"] = received_text
        details["prompt_source"] = source or "none"
        if self.generator.kind == FALLBACK:
            details["generator"] = self.generator.model
        else:
            details["generator"] = self.generator.name
        if failed and init_image is None:
            reconstruction = np.full((*shape, 3), 128, dtype=np.uint8)
            details["reconstruction"] = "mid-grey: nothing decodable arrived"
        elif failed:
            reconstruction = FallbackGenerator("prompt lost").generate("", shape, init_image)
            details["reconstruction"] = "side information only: prompt lost"
        else:
            reconstruction = self.generator.generate(received_text, shape, init_image=init_image,
                                                     generator=_diffusion_generator(generator))
            details["reconstruction"] = ("img2img" if init_image is not None else "text-to-image") \
                if self.generator.kind != FALLBACK else details["generator"]

        reference_keywords = cap.keywords or [k.text for k in kws] or content_words(prompt.text)
        metrics = {
            "prompt_bits": float(prompt.num_bits),
            "prompt_exact": float(prompt_exact(prompt.text, decoded.text if decoded.ok else None)),
            "word_error_rate": word_error_rate(prompt.text, received_text),
            "keyword_recall": keyword_recall(reference_keywords, received_text),
        }
        if self.similarity:
            sim = semantic_similarity(prompt.text, received_text)
            if sim is not None:
                metrics["semantic_similarity"] = sim
                # what arrived against the whole caption: below 1 for a cut or keywords-only prompt
                metrics["caption_similarity"] = (sim if prompt.text == normalize_prompt(cap.text)
                                                  else semantic_similarity(cap.text, received_text))
        return SchemeResult(reconstruction, int(bits), int(coded), int(uses), failed=failed, metrics=metrics,
                            details=details)


def _diffusion_generator(generator: torch.Generator | None) -> torch.Generator:
    """A generator for diffusion sampling, seeded from the transmission's one (reproducible, and
    independent of how many noise draws the link made)."""
    if generator is None:
        return torch.Generator().manual_seed(0)
    return torch.Generator().manual_seed(int(generator.initial_seed()) & 0x7FFFFFFF)
