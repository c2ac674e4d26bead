"""Semantic layer: what the transmitter says about an image, coded against a shared knowledge base."""

from semcom.semantic.arithmetic import ArithmeticDecoder, ArithmeticEncoder
from semcom.semantic.corpus import default_cache_dir, default_data_dir, flickr8k_split, load_flickr8k_captions
from semcom.semantic.minilm import minilm_similarity
from semcom.semantic.neural_codec import NeuralTextCodec, load_neural_codec
from semcom.semantic.ngram import NgramModel
from semcom.semantic.text_codec import (
    TEXT_CODECS,
    DecodedPrompt,
    EncodedPrompt,
    TextCodec,
    UnigramTextCodec,
    build_flickr8k_codec,
)
from semcom.semantic.tokens import detokenize, normalize_prompt, tokenize

__all__ = [
    "TEXT_CODECS",
    "ArithmeticDecoder",
    "ArithmeticEncoder",
    "DecodedPrompt",
    "EncodedPrompt",
    "NeuralTextCodec",
    "NgramModel",
    "TextCodec",
    "UnigramTextCodec",
    "build_flickr8k_codec",
    "default_cache_dir",
    "default_data_dir",
    "detokenize",
    "flickr8k_split",
    "load_neural_codec",
    "load_flickr8k_captions",
    "minilm_similarity",
    "normalize_prompt",
    "tokenize",
]
