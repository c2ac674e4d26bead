"""Deep joint source-channel coding (JSCC) of images: an SNR-adaptive learned analog codec.

>>> from semcom.jscc import JSCCConfig, JSCCModel
>>> model = JSCCModel(JSCCConfig(cbr="1/16"))          # or load_checkpoint("jscc-awgn-cbr1-16")
>>> out = model(images, snr_db=10.0)                    # doctest: +SKIP
>>> out.reconstruction, out.channel_uses                # doctest: +SKIP
"""

from semcom.jscc.checkpoint import (
    SHIPPED,
    ShippedCheckpoint,
    checkpoint_names,
    load_checkpoint,
    read_card,
    resolve_checkpoint,
    save_checkpoint,
)
from semcom.jscc.model import (
    STRIDE,
    JSCCConfig,
    JSCCModel,
    JSCCOutput,
    bottleneck_channels,
    count_parameters,
    psnr,
)

__all__ = [
    "JSCCConfig",
    "JSCCModel",
    "JSCCOutput",
    "STRIDE",
    "SHIPPED",
    "ShippedCheckpoint",
    "bottleneck_channels",
    "checkpoint_names",
    "count_parameters",
    "load_checkpoint",
    "psnr",
    "read_card",
    "resolve_checkpoint",
    "save_checkpoint",
]
