"""An example plugin: a receiver-side generator without any learned model, registered as ``grey``.

It paints the requested size in one grey level read from the prompt: words of darkness ("night",
"dark", "dusk", "black", ...) give a dark grey, words of light ("white", "snow", "bright", "sky", ...)
a light one, anything else mid-grey. Crude, but a real stage: it reads the received prompt and its
output changes the measured PSNR.

Use it from the command line or a config::

    semcom table4 --plugin experiments/plugins/grey_generator.py --generator grey
    semcom run experiments/tiny.toml --plugin experiments/plugins/grey_generator.py

or in a config, ``plugins = ["plugins/grey_generator.py"]`` and ``generator = "grey"`` (or a
``[schemes.stages.generator]`` table with ``name = "grey"`` and its options ``dark``/``light``).
Importing this file is all it takes: the decorator below adds ``grey`` to the generator registry.
"""

from __future__ import annotations

import numpy as np

from semcom.generative.generator import GENERATORS, ImageGenerator

DARK_WORDS = {"night", "dark", "dusk", "black", "shadow", "evening", "midnight"}
LIGHT_WORDS = {"white", "snow", "bright", "sky", "light", "sunny", "beach", "cloud", "clouds"}


@GENERATORS.register("grey", override=True)
class GreyGenerator(ImageGenerator):
    """A flat grey image whose level follows the prompt's light or dark words."""

    name = "grey"
    kind = "no learned model (plugin)"

    def __init__(self, dark: int = 64, light: int = 192, neutral: int = 128, **_ignored):
        self.levels = {"dark": int(dark), "light": int(light), "neutral": int(neutral)}
        self.model = f"grey plugin (dark {dark}, light {light})"

    def level(self, prompt: str) -> int:
        words = set(prompt.lower().replace(",", " ").split())
        score = len(words & LIGHT_WORDS) - len(words & DARK_WORDS)
        return self.levels["light" if score > 0 else "dark" if score < 0 else "neutral"]

    def generate(self, prompt, shape, init_image=None, generator=None) -> np.ndarray:
        h, w = (int(s) for s in tuple(shape)[:2])
        return np.full((h, w, 3), self.level(prompt or ""), dtype=np.uint8)
