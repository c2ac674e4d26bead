"""Semantic layer: what the transmitter says about an image, coded against a shared knowledge base."""

from semcom.semantic.text_codec import (
    TEXT_CODECS,
    ArithmeticDecoder,
    ArithmeticEncoder,
    DecodedPrompt,
    EncodedPrompt,
    NgramModel,
    TextCodec,
    UnigramTextCodec,
    build_flickr8k_codec,
    default_cache_dir,
    default_data_dir,
    detokenize,
    flickr8k_split,
    load_flickr8k_captions,
    normalize_prompt,
    tokenize,
)
from semcom.semantic.neural_codec import NeuralTextCodec, load_neural_codec

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
    "normalize_prompt",
    "tokenize",
]
