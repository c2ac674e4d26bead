"""Receiver-side image generators: a prompt (and optional side information) in, an image of a given size out.

Registered in :data:`GENERATORS`:

``stable-diffusion``       diffusers ``StableDiffusionPipeline`` (text-to-image), and
                           ``StableDiffusionImg2ImgPipeline`` built from the same components when an
                           init image (side information) arrives. Default weights
                           ``stabilityai/stable-diffusion-2-1-base``; ``model=`` takes any hub id (read
                           from the local Hugging Face cache) or a local folder. Missing weights raise
                           :class:`~semcom.errors.WeightsNotFoundError`.
``refiner``                the small refiner trained here (:mod:`semcom.generative.refiner`): the
                           upsampled side information refined; the offline default whenever side
                           information is sent and no diffusion weights are found.
``fallback``               no model: the upsampled side information if any, else mid-grey.

Tiny random Stable Diffusion pipelines (``tiny-stable-diffusion``), for tests and offline runs, are
registered by :mod:`semcom.testing` (``--plugin semcom.testing``).

Every generator returns an [H, W, 3] uint8 image of the requested size (the pipeline output is
resized), and says what it is through ``kind`` (real weights / test double / fallback).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
import math
from typing import Any

import numpy as np
import torch

from semcom.devices import check_device, check_dtype
from semcom.errors import ConfigError, InputError
from semcom.extras import require
from semcom.generative.side_info import resize
from semcom.generative.weights import FALLBACK, REAL, TRAINED, load_pretrained
from semcom.images import fallback_image
from semcom.registry import Registry

GENERATORS: Registry = Registry("generator")
DEFAULT_SD = "stabilityai/stable-diffusion-2-1-base"
#: The Canny ControlNet the edge-map side information conditions by default.
DEFAULT_CONTROLNET = "lllyasviel/sd-controlnet-canny"

#: Scheduler names accepted by ``scheduler=`` (any diffusers scheduler class name works too).
SCHEDULERS = {
    "ddim": "DDIMScheduler", "pndm": "PNDMScheduler", "euler": "EulerDiscreteScheduler",
    "euler-a": "EulerAncestralDiscreteScheduler", "dpm++": "DPMSolverMultistepScheduler",
    "lms": "LMSDiscreteScheduler", "unipc": "UniPCMultistepScheduler", "heun": "HeunDiscreteScheduler",
}


class ImageGenerator(ABC):
    """Base class: ``generate(prompt, shape, init_image=None, generator=None) -> [H, W, 3] uint8``.

    A generator with a ControlNet (``controlnet`` set) also takes ``control_image=`` ([H, W, 3] uint8).
    """

    name = "generator"
    model = ""
    kind = REAL
    #: True for generators that refine the side information and cannot draw from a prompt alone.
    needs_side_info = False

    @abstractmethod
    def generate(self, prompt: str, shape: tuple[int, int], init_image: np.ndarray | None = None,
                 generator: torch.Generator | None = None) -> np.ndarray:
        ...

    def describe(self) -> dict[str, Any]:
        return {"generator": self.name, "model": self.model, "kind": self.kind}


def _check_shape(shape) -> tuple[int, int]:
    h, w = (int(s) for s in tuple(shape)[:2])
    if h < 1 or w < 1:
        raise InputError(f"output shape must be positive, got {shape}")
    return h, w


@GENERATORS.register("stable-diffusion")
class StableDiffusionGenerator(ImageGenerator):
    """Stable Diffusion text-to-image, or image-to-image from side information.

    model:      hub id or local diffusers folder.   steps: denoising steps.   guidance: CFG scale.
    scheduler:  a name of :data:`SCHEDULERS` or a diffusers scheduler class name (swapped via
                ``from_config``); None keeps the pipeline's own.
    resolution: long side of the generated image in pixels (default: the pipeline's native size);
                the short side follows the aspect ratio of the requested shape, in multiples of 8.
    strength:   img2img noise strength (0: keep the init image, 1: ignore it).
    negative_prompt, device, dtype ("float16" on GPU), download (allow fetching missing files).
    controlnet: hub id or folder of a ControlNet (e.g. :data:`DEFAULT_CONTROLNET`), or a
                ``ControlNetModel``; then ``generate`` takes ``control_image`` (edges, white on black).
    """

    name = "stable-diffusion"

    def __init__(self, model: str = DEFAULT_SD, steps: int = 25, guidance: float = 7.5, scheduler: str | None = None,
                 resolution: int | None = None, strength: float = 0.75, negative_prompt: str | None = None,
                 device: str | None = None, dtype: str | None = None, download: bool = False,
                 controlnet=None, *, pipeline=None, kind: str = REAL):
        if steps < 1:
            raise ConfigError(f"steps must be >= 1, got {steps}")
        if not 0.0 < strength <= 1.0:
            raise ConfigError(f"strength must be in (0, 1], got {strength}")
        if resolution is not None and resolution < 8:
            raise ConfigError(f"resolution must be >= 8 pixels, got {resolution}")
        self.model, self.kind = str(model), kind
        self.steps, self.guidance, self.strength = int(steps), float(guidance), float(strength)
        self.negative_prompt = negative_prompt
        self.device = check_device(device)
        self.dtype = check_dtype(dtype, self.device)
        if pipeline is None:
            diffusers = require("diffusers", "the stable-diffusion generator")

            pipeline = load_pretrained(diffusers.StableDiffusionPipeline.from_pretrained, self.model,
                                       "Stable Diffusion", "--generator-model", download=download, dtype=self.dtype,
                                       safety_checker=None, requires_safety_checker=False)
        if scheduler is not None:
            pipeline.scheduler = make_scheduler(scheduler, pipeline.scheduler.config)
        self.scheduler = type(pipeline.scheduler).__name__
        pipeline.set_progress_bar_config(disable=True)
        self.pipe = pipeline.to(self.device, self.dtype)
        self.controlnet = None
        if controlnet is not None:
            if isinstance(controlnet, str):
                diffusers = require("diffusers", "the ControlNet")
                controlnet = load_pretrained(diffusers.ControlNetModel.from_pretrained, controlnet, "ControlNet",
                                             "--controlnet-model", download=download, dtype=self.dtype)
            self.controlnet = controlnet.to(self.device, self.dtype).eval()
        self._pipelines: dict[str, Any] = {}
        native = pipeline.unet.config.sample_size * pipeline.vae_scale_factor
        self.resolution = int(resolution or native)

    def describe(self) -> dict[str, Any]:
        controlnet = {"controlnet": type(self.controlnet).__name__} if self.controlnet is not None else {}
        return {**super().describe(), "steps": self.steps, "guidance": self.guidance, "scheduler": self.scheduler,
                "resolution": self.resolution, "strength": self.strength, "device": self.device,
                "dtype": str(self.dtype).replace("torch.", ""), **controlnet}

    def variant(self, name: str):
        """A diffusers pipeline sharing this pipeline's components, built on first use: ``img2img``,
        ``controlnet`` (text-to-image) or ``controlnet-img2img``."""
        if name not in self._pipelines:
            diffusers = require("diffusers", "the stable-diffusion generator")

            cls = {"img2img": "StableDiffusionImg2ImgPipeline", "controlnet": "StableDiffusionControlNetPipeline",
                   "controlnet-img2img": "StableDiffusionControlNetImg2ImgPipeline"}[name]
            components = dict(self.pipe.components)
            components.setdefault("requires_safety_checker", self.pipe.config.get("requires_safety_checker", False))
            if name.startswith("controlnet"):
                components["controlnet"] = self.controlnet
            pipe = getattr(diffusers, cls)(**components)
            pipe.set_progress_bar_config(disable=True)
            self._pipelines[name] = pipe
        return self._pipelines[name]

    def output_size(self, shape: tuple[int, int]) -> tuple[int, int]:
        """(height, width) generated for a requested shape: long side ``resolution``, multiples of 8."""
        h, w = shape
        long = self.resolution
        short = max(8, int(round(long * min(h, w) / max(h, w) / 8)) * 8)
        return (long, short) if h >= w else (short, long)

    @torch.no_grad()
    def generate(self, prompt: str, shape: tuple[int, int], init_image: np.ndarray | None = None,
                 generator: torch.Generator | None = None, control_image: np.ndarray | None = None) -> np.ndarray:
        from PIL import Image

        shape = _check_shape(shape)
        height, width = self.output_size(shape)
        if generator is None:
            generator = torch.Generator().manual_seed(0)
        if control_image is not None and self.controlnet is None:
            raise InputError("a control image needs a generator built with a ControlNet (controlnet=...)")
        common = dict(prompt=prompt, num_inference_steps=self.steps, guidance_scale=self.guidance,
                      negative_prompt=self.negative_prompt, generator=generator, output_type="np")
        if control_image is not None:
            control = Image.fromarray(resize(np.asarray(control_image, dtype=np.uint8), (height, width)))
        if init_image is None and control_image is None:
            out = self.pipe(height=height, width=width, **common).images[0]
        elif init_image is None:
            out = self.variant("controlnet")(image=control, height=height, width=width, **common).images[0]
        else:
            init = Image.fromarray(resize(np.asarray(init_image, dtype=np.uint8), (height, width)))
            # img2img runs int(steps * strength) steps: ask for enough that at least one runs
            common["num_inference_steps"] = max(self.steps, math.ceil(1 / self.strength))
            if control_image is None:
                out = self.variant("img2img")(image=init, strength=self.strength, **common).images[0]
            else:
                out = self.variant("controlnet-img2img")(image=init, control_image=control, strength=self.strength,
                                                         height=height, width=width, **common).images[0]
        image = (np.clip(np.nan_to_num(out), 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
        return resize(image, shape)


def make_scheduler(name: str, config):
    """A diffusers scheduler by short name (:data:`SCHEDULERS`) or class name, from a pipeline's config."""
    diffusers = require("diffusers", "diffusion schedulers")

    cls_name = SCHEDULERS.get(name.lower(), name)
    cls = getattr(diffusers, cls_name, None)
    if cls is None or not hasattr(cls, "from_config"):
        raise ConfigError(f"unknown scheduler {name!r}; known: {', '.join(SCHEDULERS)} or a diffusers class name")
    return cls.from_config(config)


# -------------------------------------------------------------------------------------- refiner


@GENERATORS.register("refiner")
class RefinerGenerator(ImageGenerator):
    """The refiner trained here on BSDS500 train: upsampled side information in, a sharper image out.

    model: a shipped refiner name (default ``refiner-avif-x8``) or a checkpoint folder. Without side
    information there is nothing to refine: :class:`~semcom.errors.InputError` (the scheme then falls
    back to the labelled mid-grey image). The prompt does not enter (it did not help measurably).
    """

    name = "refiner"
    kind = TRAINED
    needs_side_info = True

    def __init__(self, model: str | None = None, device: str | None = None, **_diffusion_settings):
        from semcom.generative.refiner_checkpoint import DEFAULT_REFINER, load_refiner

        self.model = str(model or DEFAULT_REFINER)
        self.device = check_device(device)
        self.net = load_refiner(self.model).to(self.device)

    @torch.no_grad()
    def generate(self, prompt: str, shape: tuple[int, int], init_image: np.ndarray | None = None,
                 generator: torch.Generator | None = None) -> np.ndarray:
        shape = _check_shape(shape)
        if init_image is None:
            raise InputError("the refiner needs side information (an init image) to refine")
        up = resize(np.asarray(init_image, dtype=np.uint8), shape)
        x = torch.from_numpy(np.array(up)).to(self.device).permute(2, 0, 1)[None].float().div(255.0)
        out = self.net(x)[0].permute(1, 2, 0).mul(255.0).round().clamp(0, 255)
        return out.to(torch.uint8).cpu().numpy()


# -------------------------------------------------------------------------------------- fallback


@GENERATORS.register("fallback")
class FallbackGenerator(ImageGenerator):
    """No generative model: the init image (upsampled side information) if any, else mid-grey.

    ``reason`` says why it is used; it is reported as ``"fallback: <reason>"``.
    """

    name = "fallback"
    kind = FALLBACK

    def __init__(self, reason: str = "no generator selected", **_ignored):
        self.reason = reason
        self.model = f"fallback: {reason}"

    def generate(self, prompt: str, shape: tuple[int, int], init_image: np.ndarray | None = None,
                 generator: torch.Generator | None = None) -> np.ndarray:
        shape = _check_shape(shape)
        if init_image is not None:
            return resize(np.asarray(init_image, dtype=np.uint8), shape)
        return fallback_image((*shape, 3))
