"""Captioners: an image in, a one-sentence description (and how sure the model was) out.

Registered in :data:`CAPTIONERS`:

``vit-gpt2``       a transformers ``VisionEncoderDecoderModel`` (ViT encoder, GPT-2 decoder), default
                   ``nlpconnect/vit-gpt2-image-captioning``; ``model=`` takes any hub id (read from
                   the local Hugging Face cache) or a local folder.
``reference``      captions written by hand, from a JSON file shaped like ``kodak/captions.json``,
                   keyed by image file name; an image array is matched to its file by its pixels.

A tiny randomly initialised ViT-GPT2 (``tiny-vit-gpt2``), for tests and offline runs, is registered by
:mod:`semcom.testing` (``--plugin semcom.testing``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from semcom.errors import ConfigError, InputError
from semcom.extras import require
from semcom.images import check_image, load_image
from semcom.registry import Registry
from semcom.generative.weights import REAL, REFERENCE, load_pretrained

CAPTIONERS: Registry = Registry("captioner")
DEFAULT_VIT_GPT2 = "nlpconnect/vit-gpt2-image-captioning"


@dataclass
class Caption:
    """What a captioner says about one image.

    text:              the caption.
    token_confidences: probability the model gave each generated token (empty for reference captions).
    tokens:            the generated tokens, aligned with ``token_confidences``.
    keywords:          reference keywords that came with the caption (reference captioner only).
    """

    text: str
    token_confidences: list[float] = field(default_factory=list)
    tokens: list[str] = field(default_factory=list)
    keywords: list[str] = field(default_factory=list)


class Captioner(ABC):
    """Base class: ``caption(image) -> Caption``; ``model`` and ``kind`` say what produced it."""

    name = "captioner"
    model = ""
    kind = REAL

    @abstractmethod
    def caption(self, image: np.ndarray) -> Caption:
        ...

    def describe(self) -> dict[str, Any]:
        return {"captioner": self.name, "model": self.model, "kind": self.kind}


def image_processor_class():
    """The PIL-backed ViT image processor (the default one wants torchvision, which is not used here)."""
    transformers = require("transformers", "the vit-gpt2 captioner")

    return getattr(transformers, "ViTImageProcessorPil", None) or transformers.ViTImageProcessor


@CAPTIONERS.register("vit-gpt2")
class VitGpt2Captioner(Captioner):
    """ViT-GPT2 captioning with greedy (or beam) decoding; per-token probabilities from ``generate``'s scores.

    model:      hub id or local folder (weights, image processor and tokenizer in it).
    max_tokens: longest caption in tokens.  num_beams: 1 = greedy.
    download:   allow ``from_pretrained`` to fetch missing files (off: offline, cache only).
    Missing weights raise :class:`~semcom.errors.WeightsNotFoundError`.
    """

    name = "vit-gpt2"

    def __init__(self, model: str = DEFAULT_VIT_GPT2, max_tokens: int = 24, num_beams: int = 1,
                 device: str = "cpu", download: bool = False, *, components: tuple | None = None,
                 kind: str = REAL):
        if max_tokens < 1 or num_beams < 1:
            raise ConfigError(f"max_tokens and num_beams must be >= 1, got {max_tokens}, {num_beams}")
        self.model = str(model)
        self.kind = kind
        self.max_tokens, self.num_beams, self.device = int(max_tokens), int(num_beams), device
        if components is None:
            transformers = require("transformers", "the vit-gpt2 captioner")

            option = "--captioner-model"
            net = load_pretrained(transformers.VisionEncoderDecoderModel.from_pretrained, self.model, "captioner", option,
                                  download=download)
            processor = load_pretrained(image_processor_class().from_pretrained, self.model, "captioner", option,
                                        download=download)
            tokenizer = load_pretrained(transformers.AutoTokenizer.from_pretrained, self.model, "captioner", option,
                                        download=download)
            components = (net, processor, tokenizer)
        self.net, self.processor, self.tokenizer = components
        self.net.to(device).eval()

    @torch.no_grad()
    def caption(self, image: np.ndarray) -> Caption:
        from PIL import Image

        image = check_image(image)
        pixels = self.processor(images=Image.fromarray(image), return_tensors="pt").pixel_values.to(self.device)
        tok = self.tokenizer
        eos = tok.eos_token_id
        pad = tok.pad_token_id if tok.pad_token_id is not None else eos
        out = self.net.generate(
            pixels, max_new_tokens=self.max_tokens, num_beams=self.num_beams, do_sample=False,
            output_scores=True, return_dict_in_generate=True, eos_token_id=eos, pad_token_id=pad,
            decoder_start_token_id=self.net.config.decoder_start_token_id or tok.bos_token_id,
        )
        transition = self.net.compute_transition_scores(
            out.sequences, out.scores, getattr(out, "beam_indices", None), normalize_logits=True)
        generated = out.sequences[0, -transition.shape[1]:].tolist()
        probs = transition[0].exp().tolist()
        special = set(tok.all_special_ids)
        ids, confidences = [], []
        for token_id, p in zip(generated, probs):
            if token_id in special:
                if token_id == eos:
                    break
                continue
            ids.append(token_id)
            confidences.append(float(p))
        text = " ".join(tok.decode(ids, skip_special_tokens=True).split())
        return Caption(text, confidences, tok.convert_ids_to_tokens(ids))


# ------------------------------------------------------------------------------------- reference


def image_fingerprint(image: np.ndarray) -> str:
    """SHA-256 of an image's shape and pixels: how an array is matched to its file."""
    h = hashlib.sha256(repr(tuple(image.shape)).encode())
    h.update(np.ascontiguousarray(image).tobytes())
    return h.hexdigest()


@CAPTIONERS.register("reference")
class ReferenceCaptioner(Captioner):
    """Hand-written captions from ``captions`` (JSON: ``{"images": {"NAME": {"caption", "keywords"}}}``).

    :meth:`caption_for` looks a caption up by file name. :meth:`caption` takes the pixels and finds
    the file of ``images`` (default: the JSON's folder) whose pixels are identical, loading the
    listed files once. An image that is not there raises InputError.
    """

    name = "reference"
    kind = REFERENCE

    def __init__(self, captions: str | os.PathLike | None = None, images: str | os.PathLike | None = None, **_ignored):
        if captions is None:
            raise ConfigError("the reference captioner needs a captions file (captions=PATH, --captions PATH)")
        path = Path(captions).expanduser()
        if not path.is_file():
            raise ConfigError(f"captions file {path} does not exist")
        try:
            entries = json.loads(path.read_text(encoding="utf-8"))["images"]
            self.entries = {str(k): {"caption": str(v["caption"]), "keywords": [str(w) for w in v.get("keywords", [])]}
                            for k, v in entries.items()}
        except (ValueError, KeyError, TypeError, AttributeError) as err:
            raise ConfigError(f"{path} is not a captions file ({{'images': {{name: {{'caption': ...}}}}}}): {err}") from err
        package = Path(__file__).resolve().parents[1]  # captions that ship with semcom are named as such
        resolved = path.resolve()
        self.model = (f"semcom/{resolved.relative_to(package).as_posix()}" if resolved.is_relative_to(package)
                      else str(path))
        self.folder = Path(images).expanduser() if images is not None else path.parent
        self._by_fingerprint: dict[str, str] | None = None

    def caption_for(self, name: str) -> Caption:
        entry = self.entries.get(Path(name).name)
        if entry is None:
            raise InputError(f"no reference caption for {name!r} in {self.model}")
        return Caption(entry["caption"], keywords=list(entry["keywords"]))

    def _index(self) -> dict[str, str]:
        if self._by_fingerprint is None:
            index = {}
            for name in self.entries:
                file = self.folder / name
                if file.is_file():
                    index[image_fingerprint(load_image(file))] = name
            self._by_fingerprint = index
        return self._by_fingerprint

    def caption(self, image: np.ndarray) -> Caption:
        image = check_image(image)
        name = self._index().get(image_fingerprint(image))
        if name is None:
            raise InputError(f"this {image.shape[1]}x{image.shape[0]} image matches none of the images of "
                             f"{self.model} found in {self.folder}; the reference captioner only captions those")
        return self.caption_for(name)
