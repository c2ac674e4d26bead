"""The generative semantic communication scheme ``gai`` as a pipeline: send what the image shows, regenerate it.

Built like a diffusers pipeline, from injected components (:class:`GenerativeScheme`), or from names and
options (:meth:`GenerativeScheme.from_config`, what the CLI and experiment configs use):

* transmitter half (:class:`GenerativeTransmitter`): captioner -> keywords -> prompt within a bit budget
  (:class:`PromptBuilder`) -> text codec (header: KB version tag + check bits) -> packets: the prompt,
  optionally the keywords alone (``keyword_packet``) and thumbnail side information;
* link: each packet over the digital link (5G polar code, short payload) with the one ARQ loop
  (:func:`semcom.link.arq.send`): a packet is sent again while its CRC fails or the receiver's codec
  refuses it, up to ``arq`` retransmissions; costs add up in a :class:`~semcom.link.arq.LinkCost`;
* receiver half (:class:`GenerativeReceiver`): decode the prompt with the codec of the KB version its
  header names (among those the receiver holds); without one, the keyword packet; then a text-to-image
  (or image-to-image, with side information) generator draws the reconstruction at the image's size.

The halves run on different nodes of a :class:`~semcom.network.nodes.Network`
(:class:`~semcom.network.services.SemanticCommunicationService`); :meth:`GenerativeScheme.transmit` runs
them back to back over one link.

Default link: fixed MCS 0 (QPSK, R = 205/1024) with the polar code. A 100-bit prompt takes one
polar block of 636 coded bits (318 channel uses, its 27 CRC bits included); SCL-8 decoding of
that block succeeds at Es/N0 = 0 dB with a margin of about 4 dB over its waterfall, so the prompt
arrives exactly there, whereas link adaptation would pick faster MCSs whose gain (a few dozen
channel uses) is not worth a lost prompt.
"""

from __future__ import annotations

import inspect
import os
import threading
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from channels import Channel
from semcom.errors import ConfigError, WeightsNotFoundError
from semcom.generative.captioner import CAPTIONERS, Caption, Captioner
from semcom.generative.generator import DEFAULT_CONTROLNET, DEFAULT_SD, GENERATORS, FallbackGenerator, ImageGenerator, RefinerGenerator
from semcom.generative.keywords import KEYWORD_EXTRACTORS, Keyword, KeywordExtractor
from semcom.generative.prompt import MODES as PROMPT_MODES
from semcom.generative.prompt import Prompt, build_prompt
from semcom.generative.semantic_metrics import (
    content_words,
    keyword_recall,
    prompt_exact,
    semantic_similarity,
    word_error_rate,
)
from semcom.generative.side_info import EdgeSideInfo, SideInfo, ThumbnailSideInfo
from semcom.generative.weights import FALLBACK
from semcom.images import check_image, fallback_image
from semcom.link import arq
from semcom.link.arq import LinkCost
from semcom.link.digital import DigitalLink
from semcom.link.mcs import MCS
from semcom.schemes.base import SCHEMES, BuildContext, Scheme, SchemeCard, SchemeResult
from semcom.semantic import TEXT_CODECS, DecodedPrompt, TextCodec, default_data_dir, normalize_prompt

#: why the ``fallback`` generator is used when it was asked for by name (not standing in for missing weights).
_SELECTED = "generator 'fallback' selected"
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


def codec_from_store(path: str | os.PathLike, version: str | None = None) -> TextCodec:
    """The prompt codec a knowledge-base store's ``version`` (default: its head) holds."""
    from knowledge_base import KnowledgeBase
    from semcom.semantic.knowledge import codec_from_kb

    store = Path(path).expanduser()
    if not store.is_file():
        raise ConfigError(f"knowledge base {store} does not exist; create it with: semcom kb init {store} --codec neural")
    kb = KnowledgeBase(store, create=False)
    try:
        return codec_from_kb(kb, version)
    finally:
        kb.close()


# ------------------------------------------------------------------------------------------ messages


@dataclass(frozen=True)
class PromptBuilder:
    """The prompt of a caption: ``mode`` (caption, caption+keywords, keywords) within ``max_bits`` (None: no budget)."""

    mode: str = "caption"
    max_bits: int | None = 100

    def __post_init__(self):
        if self.mode not in PROMPT_MODES:
            raise ConfigError(f"unknown prompt mode {self.mode!r}; known: {', '.join(PROMPT_MODES)}")
        if self.max_bits is not None and (isinstance(self.max_bits, bool) or not isinstance(self.max_bits, int)
                                          or self.max_bits < 1):
            raise ConfigError(f"prompt_bits must be a number of bits (0 or None: no budget), got {self.max_bits!r}")

    @property
    def uses_keywords(self) -> bool:
        return self.mode != "caption"

    def build(self, caption: str, keywords: list[Keyword], codec: TextCodec) -> Prompt:
        return build_prompt(caption, keywords, codec, self.max_bits, self.mode)


@dataclass
class SemanticMessage:
    """What the transmitter half hands to the link for one image.

    shape:          (H, W) of the image, known to the receiver (it sizes the reconstruction).
    caption:        what the captioner said (text, token confidences).
    keywords:       extracted keywords (empty unless the prompt or the keyword packet uses them).
    prompt:         the prompt and its code (``prompt.encoded.bits`` go on air).
    keyword_packet: the keywords alone, coded within ``keyword_bits``, or None.
    side_info:      the encoded thumbnail, or None.
    edges:          the losslessly coded edge map (the ControlNet's condition), or None.
    """

    shape: tuple[int, int]
    caption: Caption
    keywords: list[Keyword]
    prompt: Prompt
    keyword_packet: Prompt | None = None
    side_info: SideInfo | None = None
    edges: SideInfo | None = None

    @property
    def side_bits(self) -> int:
        """Payload bits of the side information that is sent (thumbnail and edge map)."""
        return sum(s.bits for s in (self.side_info, self.edges) if s is not None and s.data is not None)

    @property
    def bits(self) -> int:
        """Payload bits of every packet."""
        return self.prompt.num_bits + (self.keyword_packet.num_bits if self.keyword_packet else 0) + self.side_bits

    @property
    def confidence(self) -> float | None:
        """Mean token confidence of the caption (None when the captioner gives none)."""
        conf = self.caption.token_confidences
        return float(np.mean(conf)) if conf else None


@dataclass
class ReceivedMessage:
    """What reached the receiver half: the decoded prompt, the keyword packet, the side information bytes."""

    prompt: DecodedPrompt
    keyword_packet: DecodedPrompt | None = None
    side_info: bytes | None = None
    edges: bytes | None = None
    cost: LinkCost = field(default_factory=LinkCost)
    retransmissions: int = 0
    link: dict[str, Any] = field(default_factory=dict)


# -------------------------------------------------------------------------------------------- halves


class GenerativeTransmitter:
    """The transmitter half: image -> :class:`SemanticMessage`."""

    def __init__(self, captioner: Captioner, keywords: KeywordExtractor, prompt: PromptBuilder, codec: TextCodec,
                 keyword_bits: int | None = None, side_info: ThumbnailSideInfo | None = None,
                 edges: EdgeSideInfo | None = None):
        if prompt.max_bits is not None and prompt.max_bits <= codec.header_bits:
            raise ConfigError(f"prompt_bits must be above the {codec.name} codec's {codec.header_bits}-bit header "
                              f"(0: no budget), got {prompt.max_bits}")
        self.captioner, self.keywords, self.prompt, self.codec = captioner, keywords, prompt, codec
        self.keyword_bits, self.side_info, self.edges = keyword_bits, side_info, edges

    def encode(self, image: np.ndarray) -> SemanticMessage:
        """image: [H, W, 3] uint8."""
        image = check_image(image)
        caption = self.captioner.caption(image)
        needs_keywords = self.prompt.uses_keywords or self.keyword_bits is not None
        kws = self.keywords.extract(caption.text) if needs_keywords else []
        prompt = self.prompt.build(caption.text, kws, self.codec)
        packet = None
        if self.keyword_bits is not None and kws:
            packet = build_prompt("", kws, self.codec, self.keyword_bits, "keywords")
        side = self.side_info.encode(image) if self.side_info is not None else None
        edges = self.edges.encode(image) if self.edges is not None else None
        return SemanticMessage(image.shape[:2], caption, kws, prompt, packet, side, edges)


class GenerativeReceiver:
    """The receiver half: received packets -> reconstruction.

    codecs:          the prompt codecs the receiver holds (one per KB version); a prompt is decoded with
                     the one whose version tag its header carries, and refused (``kb-version-mismatch``)
                     when the receiver holds none.
    generator:       draws the image from the received prompt (and the side information, if any).
    fallback_prompt: what to generate from when no prompt arrived ("" : no generation; the side
                     information alone, or the mid-grey fallback image).
    """

    def __init__(self, codecs: TextCodec | Sequence[TextCodec], generator: ImageGenerator,
                 side_info: ThumbnailSideInfo | None = None, fallback_prompt: str = "",
                 edges: EdgeSideInfo | None = None):
        self.codecs = [codecs] if isinstance(codecs, TextCodec) else list(codecs)
        if not self.codecs:
            raise ConfigError("a receiver needs at least one prompt codec")
        self.generator, self.side_info, self.edges = generator, side_info, edges
        self.fallback_prompt = normalize_prompt(fallback_prompt)

    def decode_prompt(self, bits: np.ndarray) -> DecodedPrompt:
        """The prompt in ``bits`` ([num_bits] 0/1), decoded with the codec of the KB version its header names."""
        bits = np.asarray(bits).astype(np.uint8).reshape(-1)
        width = self.codecs[0].version_bits
        if bits.size >= width:
            tag = int("".join(str(int(b)) for b in bits[:width]) or "0", 2)
            for codec in self.codecs:
                if codec.version_bits == width and codec.kb_version == tag:
                    return codec.decode(bits)
        return self.codecs[0].decode(bits)  # reports the mismatch (or a malformed header)

    def accept_prompt(self, bits: np.ndarray) -> tuple[bool, DecodedPrompt]:
        """The ARQ verdict on a packet that passed the link CRC: (the codec took it, what it decoded)."""
        decoded = self.decode_prompt(bits)
        return decoded.ok, decoded

    def prompt_text(self, received: ReceivedMessage) -> tuple[str | None, str]:
        """(the prompt to generate from or None, where it came from: prompt, keyword-fallback, fallback-prompt, none)."""
        if received.prompt.ok:
            return received.prompt.text, "prompt"
        if received.keyword_packet is not None and received.keyword_packet.ok:
            return received.keyword_packet.text, "keyword-fallback"
        if self.fallback_prompt:
            return self.fallback_prompt, "fallback-prompt"
        return None, "none"

    def reconstruct(self, received: ReceivedMessage, shape: tuple[int, int],
                    generator: torch.Generator | None = None) -> tuple[np.ndarray, dict[str, Any]]:
        """([H, W, 3] uint8 reconstruction of an H x W image, facts about how it was made). The side
        information's streams announce their sizes; the receiver accepts only those an H x W image has."""
        text, source = self.prompt_text(received)
        init_image = control = None
        if self.side_info is not None and received.side_info is not None:
            init_image = self.side_info.decode(received.side_info, shape)
        if self.edges is not None and received.edges is not None:
            control = self.edges.decode(received.edges, shape)
        details: dict[str, Any] = {"received_prompt": text, "prompt_source": source}
        if self.side_info is not None:
            details["side_info_ok"] = init_image is not None
        if self.edges is not None:
            details["edges_ok"] = control is not None
        if text is None and init_image is None:
            details["reconstruction"] = "mid-grey: nothing decodable arrived"
            return fallback_image((*shape, 3)), details
        if init_image is None and _needs_side_info(self.generator):
            details["reconstruction"] = "fallback: side information lost, prompt only (mid-grey)"
            return fallback_image((*shape, 3)), details
        if text is None and not _needs_side_info(self.generator):
            details["reconstruction"] = "side information only: prompt lost"
            return FallbackGenerator("prompt lost").generate("", shape, init_image), details
        conditions = {"control_image": control} if control is not None and _uses_control(self.generator) else {}
        image = self.generator.generate(text or "", shape, init_image=init_image,
                                        generator=_diffusion_generator(generator), **conditions)
        if _needs_side_info(self.generator):
            details["reconstruction"] = f"{self.generator.name}: side information refined"
        elif self.generator.kind == FALLBACK:
            details["reconstruction"] = self.generator.model
        else:
            details["reconstruction"] = ("img2img" if init_image is not None else "text-to-image") + (
                " + ControlNet (edges)" if conditions else "")
        return image, details


def send_message(message: SemanticMessage, link: DigitalLink, snr_db: float, receiver: GenerativeReceiver, *,
                 rounds: int = 0, generator: torch.Generator | None = None) -> ReceivedMessage:
    """Every packet of ``message`` over ``link`` at Es/N0 = ``snr_db``, prompts checked by ``receiver``'s codec."""
    prompt = arq.send(link, message.prompt.encoded.bits, snr_db, rounds=rounds, generator=generator,
                      accept=receiver.accept_prompt)
    cost = prompt.cost
    got = prompt.value if prompt.value is not None else DecodedPrompt("", False, "link-crc", message.prompt.num_bits)
    received = ReceivedMessage(got, retransmissions=prompt.retransmissions, link=dict(prompt.info))
    if message.keyword_packet is not None:
        packet = arq.send(link, message.keyword_packet.encoded.bits, snr_db, rounds=rounds, generator=generator,
                          accept=receiver.accept_prompt)
        cost += packet.cost
        received.keyword_packet = packet.value if packet.value is not None else \
            DecodedPrompt("", False, "link-crc", message.keyword_packet.num_bits)
    for name in ("side_info", "edges"):
        side = getattr(message, name)
        if side is not None and side.data is not None:
            sent = arq.send(link, np.unpackbits(np.frombuffer(side.data, dtype=np.uint8)), snr_db, rounds=rounds,
                            generator=generator)
            cost += sent.cost
            setattr(received, name, np.packbits(sent.bits).tobytes() if sent.ok else None)
    received.cost = cost
    return received


# ------------------------------------------------------------------------------------------- scheme


class GenerativeScheme(Scheme):
    """Generative semantic communication from its components (see the module doc).

    ``arq``: retransmissions per packet; ``similarity``: also report MiniLM similarities
    (``semantic_similarity``: received vs sent prompt; ``caption_similarity``: received prompt vs the
    whole caption, below 1 for a cut or keywords-only prompt even when every bit arrives).
    """

    name = "gai"

    def __init__(self, transmitter: GenerativeTransmitter, receiver: GenerativeReceiver, link: DigitalLink,
                 arq: int = 0, similarity: bool = True):
        if isinstance(arq, bool) or not isinstance(arq, int) or arq < 0:
            raise ConfigError(f"arq must be a non-negative number of rounds, got {arq!r}")
        self.transmitter, self.receiver, self.link = transmitter, receiver, link
        self.arq, self.similarity = arq, similarity

    @classmethod
    def from_config(
        cls,
        captioner: str | Captioner | None = None,
        captions: str | os.PathLike | None = None,
        captioner_model: str | None = None,
        keywords: str | KeywordExtractor = "yake",
        prompt_mode: str = "caption",
        prompt_bits: int | None = 100,
        text_codec: str = "neural",
        corpus: str | os.PathLike | None = None,
        kb: str | os.PathLike | None = None,
        kb_version: str | None = None,
        keyword_packet: bool = False,
        keyword_bits: int = 48,
        side_info: str = "none",
        side_bits: int = 600,
        thumb_size: int = 16,
        side_codec: str = "webp",
        thumb_scale: int | list[int] | None = None,
        edges: bool = False,
        edge_scale: int = 4,
        edge_bits: int = 20000,
        controlnet_model: str | None = None,
        generator: str | ImageGenerator = "stable-diffusion",
        generator_model: str | None = None,
        steps: int | None = None,
        guidance: float | None = None,
        scheduler: str | None = None,
        strength: float | None = None,
        resolution: int | None = None,
        device: str | None = None,
        dtype: str | None = None,
        strict: bool = False,
        channel: Channel | str = "awgn",
        mcs: MCS | int | None = 0,
        code: str = "polar",
        arq: int = 0,
        seed: int | None = 0,
        similarity: bool = True,
        context: BuildContext | None = None,
        **channel_options,
    ) -> "GenerativeScheme":
        """The scheme from stage names and options, as the CLI and experiment configs give them.

        captioner: ``reference`` (default when ``captions`` is given; ``context`` points it at the pixels
        actually sent), ``vit-gpt2`` (default otherwise) or any registered name; ``captioner_model``: its
        hub id or folder. keywords: ``yake``, ``keybert``, ``none``. prompt_mode / prompt_bits: see
        :class:`PromptBuilder` (0 or None: the whole caption, losslessly). text_codec: ``neural``
        (default; its knowledge base ships with semcom), ``ngram`` or ``unigram`` (from the Flickr8k captions
        under ``corpus``). kb: a knowledge-base store (``semcom kb init PATH --codec ...``) both ends decode
        with instead: the codec its version ``kb_version`` (default: the head) holds, its header tag that
        version's short id. keyword_packet: also send the keywords alone within ``keyword_bits``.
        side_info: ``none`` or ``thumbnail`` (``side_bits``, ``thumb_size`` or ``thumb_scale``: 8 for 1/8 of the
        image, a list for the best of several per image, ``side_codec``). edges: also send a Canny edge map at 1/``edge_scale``, coded losslessly
        within ``edge_bits``, that conditions the generator's ControlNet (``controlnet_model``, default
        ``lllyasviel/sd-controlnet-canny``). generator: ``stable-diffusion`` (default) or any registered name (``refiner``:
        the refiner trained here), ``fallback``; missing weights fall back (warning) unless ``strict``: to the
        refiner when side information is sent, else to the labelled mid-grey ``fallback: ...``. device
        (``cpu``, ``cuda``, ``cuda:N``, ``mps``) and dtype (``float32``, ``float16``, ``bfloat16``): where and
        how the generator runs, checked before anything loads. channel, mcs (None: link adaptation), code
        (``polar``/``auto``/``ldpc``), arq, seed: the link.
        """
        if side_info not in ("none", "thumbnail"):
            raise ConfigError(f"side_info must be 'none' or 'thumbnail', got {side_info!r}")
        if prompt_bits is not None and (isinstance(prompt_bits, bool) or not isinstance(prompt_bits, int)
                                        or prompt_bits < 0):
            raise ConfigError(f"prompt_bits must be a number of bits (0 or None: no budget), got {prompt_bits!r}")
        prompt = PromptBuilder(prompt_mode, prompt_bits or None)  # checked before any model or codec loads
        seed0 = 0 if seed is None else int(seed)
        if not isinstance(captioner, Captioner):
            name = captioner or ("reference" if captions is not None else "vit-gpt2")
            options: dict[str, Any] = {}
            if name == "reference":
                options["captions"] = captions
                if context is not None and captions is not None:
                    options = context.reference_captions(options)
            elif captioner_model is not None:
                options["model"] = captioner_model
            captioner = _create(CAPTIONERS, name, seed0, **options)
        if not isinstance(keywords, KeywordExtractor):
            keywords = KEYWORD_EXTRACTORS.create(keywords)
        codec = codec_from_store(kb, kb_version) if kb is not None else get_text_codec(text_codec, corpus)
        side = ThumbnailSideInfo(thumb_size, side_bits, side_codec, thumb_scale) if side_info == "thumbnail" else None
        edge_map = EdgeSideInfo(edge_scale, max_bits=edge_bits) if edges else None
        transmitter = GenerativeTransmitter(captioner, keywords, prompt, codec,
                                            int(keyword_bits) if keyword_packet else None, side, edge_map)
        if not isinstance(generator, ImageGenerator):
            generator = _make_generator(generator, generator_model, seed0, strict, side is not None, steps=steps,
                                        guidance=guidance, scheduler=scheduler, strength=strength,
                                        resolution=resolution, device=device, dtype=dtype,
                                        controlnet=(controlnet_model or DEFAULT_CONTROLNET) if edges else None)
        receiver = GenerativeReceiver(codec, generator, side, edges=edge_map)
        link = DigitalLink(channel, mcs=mcs, code=code, seed=seed, **channel_options)
        return cls(transmitter, receiver, link, arq=arq, similarity=similarity)

    # ------------------------------------------------------------------------------ self-description
    @property
    def codec(self) -> TextCodec:
        return self.transmitter.codec

    @property
    def captioner(self) -> Captioner:
        return self.transmitter.captioner

    @property
    def generator(self) -> ImageGenerator:
        return self.receiver.generator

    def card(self) -> SchemeCard:
        captioner, generator = self.captioner, self.generator
        return SchemeCard(
            f"captioner: {captioner.model} ({captioner.kind}); generator: {generator.model} ({generator.kind})",
            {"captioner": str(captioner.model), "text_codec": f"{self.codec.name} (KB tag {self.codec.kb_version})",
             "generator": str(generator.model)},
            fallback=isinstance(generator, FallbackGenerator) and generator.reason != _SELECTED,
        )

    def describe(self) -> dict[str, Any]:
        tx = self.transmitter
        return {
            "scheme": self.name, "captioner": self.captioner.name, "captioner_model": self.captioner.model,
            "captioner_kind": self.captioner.kind, "keywords": tx.keywords.name,
            "prompt_mode": tx.prompt.mode, "prompt_bits": tx.prompt.max_bits, "text_codec": self.codec.name,
            "kb_version": self.codec.kb_version, "keyword_packet": tx.keyword_bits is not None,
            "side_info": tx.side_info.describe() if tx.side_info else "none",
            "edges": tx.edges.describe() if tx.edges else "none",
            **{f"generator_{k}" if k != "generator" else k: v for k, v in self.generator.describe().items()},
            "channel": self.link.channel_name,
            "mcs": None if self.link.mcs is None else str(self.link.mcs), "code": self.link.code, "arq": self.arq,
        }

    # ------------------------------------------------------------------------------ transmission
    def transmit(self, image: np.ndarray, snr_db: float, generator: torch.Generator | None = None) -> SchemeResult:
        message = self.transmitter.encode(image)
        received = send_message(message, self.link, snr_db, self.receiver, rounds=self.arq, generator=generator)
        reconstruction, made = self.receiver.reconstruct(received, message.shape, generator=generator)
        return SchemeResult(reconstruction, message.bits, received.cost.coded_bits, received.cost.channel_uses,
                            failed=made["prompt_source"] == "none", metrics=self._metrics(message, received, made),
                            details=self._details(message, received, made))

    def _details(self, message: SemanticMessage, received: ReceivedMessage, made: dict) -> dict[str, Any]:
        tx, generator = self.transmitter, self.generator
        details: dict[str, Any] = {
            "caption": message.caption.text, "sent_prompt": message.prompt.text,
            "prompt_truncated": message.prompt.truncated, "keywords": [k.text for k in message.keywords],
            "kb_version": self.codec.kb_version,
            "models": {"captioner": f"{self.captioner.model} ({self.captioner.kind})", "keywords": tx.keywords.name,
                       "generator": f"{generator.model} ({generator.kind})"},
        }
        if message.confidence is not None:
            details["caption_confidence"] = message.confidence
        details.update(received.link, arq_rounds=received.retransmissions, prompt_ok=received.prompt.ok,
                       prompt_failure=received.prompt.reason or None)
        if message.keyword_packet is not None:
            details["sent_keyword_packet"] = message.keyword_packet.text
        if message.side_info is not None:
            details["side_info_bits"] = message.side_info.bits
        if message.edges is not None:
            details["edge_bits"] = message.edges.bits
        details.update(made)
        details["generator"] = generator.model if generator.kind == FALLBACK else generator.name
        return details

    def _metrics(self, message: SemanticMessage, received: ReceivedMessage, made: dict) -> dict[str, float]:
        sent, got = message.prompt.text, made["received_prompt"]
        reference = message.caption.keywords or [k.text for k in message.keywords] or content_words(sent)
        metrics = {
            "prompt_bits": float(message.prompt.num_bits),
            "prompt_exact": float(prompt_exact(sent, received.prompt.text if received.prompt.ok else None)),
            "word_error_rate": word_error_rate(sent, got),
            "keyword_recall": keyword_recall(reference, got),
        }
        if message.side_info is not None or message.edges is not None:
            metrics["side_info_bits"] = float(message.side_bits)
        if self.similarity:
            sim = semantic_similarity(sent, got)
            if sim is not None:
                metrics["semantic_similarity"] = sim
                caption = message.caption.text
                metrics["caption_similarity"] = (sim if sent == normalize_prompt(caption)
                                                  else semantic_similarity(caption, got))
        return metrics


SCHEMES.register("gai")(GenerativeScheme)


def _create(registry, name: str, seed: int, **options):
    """A stage from its registry; stages that take a ``seed`` (random test doubles) get the scheme's."""
    if "seed" in inspect.signature(registry.get(name)).parameters:
        options.setdefault("seed", seed)
    return registry.create(name, **options)


def _make_generator(name: str, model: str | None, seed: int, strict: bool, side_info: bool,
                    **settings) -> ImageGenerator:
    """The generator ``name``; without its weights (unless ``strict``) the refiner trained here when side
    information is sent, else the labelled fallback."""
    options = {k: v for k, v in settings.items() if v is not None}
    if name == "fallback":
        return FallbackGenerator(_SELECTED)
    if model is not None:
        options["model"] = model
    try:
        return _create(GENERATORS, name, seed, **options)
    except WeightsNotFoundError as err:
        if strict:
            raise
        missing = f"{name} weights {options.get('model', DEFAULT_SD)!r} not found"
        if side_info and name != "refiner":
            try:
                refiner = RefinerGenerator()
            except WeightsNotFoundError as refiner_err:
                warnings.warn(f"{err}; {refiner_err} -- using the fallback generator", stacklevel=3)
                return FallbackGenerator(missing)
            warnings.warn(f"{err} -- using the refiner trained here ({refiner.model}) on the side information",
                          stacklevel=3)
            return refiner
        warnings.warn(f"{err} -- using the fallback generator (side information or mid-grey)", stacklevel=3)
        return FallbackGenerator(missing)


def _uses_control(generator) -> bool:
    """Whether ``generator`` takes a control image (a ControlNet's condition)."""
    return bool(getattr(generator, "controlnet", None))


def _needs_side_info(generator) -> bool:
    """Whether ``generator`` only refines side information (a plugin's generator need not say)."""
    return bool(getattr(generator, "needs_side_info", False))


def _diffusion_generator(generator: torch.Generator | None) -> torch.Generator:
    """A generator for diffusion sampling, seeded from the transmission's one (reproducible, and
    independent of how many noise draws the link made)."""
    if generator is None:
        return torch.Generator().manual_seed(0)
    return torch.Generator().manual_seed(int(generator.initial_seed()) & 0x7FFFFFFF)
