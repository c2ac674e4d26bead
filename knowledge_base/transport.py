"""A knowledge-base sync transport over the simulated digital link.

:class:`LinkTransport` carries a signed update (:mod:`knowledge_base.update`) over a
:class:`semcom.link.digital.DigitalLink`: CRC-segmented, LDPC (or polar) coded, QAM mapped,
through the channel model at the given SNR, decoded. Bits and channel uses are those the link
spent. When any code block fails its CRC, the delivery has ``ok=False`` and ``data`` holds the
received bytes with the failed blocks erased (zeroed): the receiver's own integrity check
refuses it and keeps its previous version.

>>> from semcom.link.digital import DigitalLink
>>> transport = LinkTransport(DigitalLink("awgn", mcs=0, code="ldpc"), snr_db=10.0, seed=0)
>>> d = transport(b"update bytes")
>>> d.ok, d.data, d.bits
(True, b'update bytes', 96)
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from knowledge_base.errors import KnowledgeBaseError
from knowledge_base.sync import Delivery


@dataclass
class TransferRecord:
    """One transfer: payload bytes, blocks sent and failed, bits on air, channel uses, MCS."""

    payload_bytes: int
    blocks: int
    failed_blocks: int
    coded_bits: int
    channel_uses: int
    mcs: str


@dataclass
class LinkTransport:
    """Adapts a DigitalLink (at ``snr_db``, noise drawn from ``generator`` or ``seed``) to the
    :class:`knowledge_base.sync.Transport` protocol: ``transport(payload)`` or
    ``transport.send(payload)`` -> :class:`~knowledge_base.sync.Delivery`.

    ``Delivery.bits`` counts payload bits sent, ``channel_uses`` the complex channel uses spent
    (pilots and coding overhead included). ``log`` keeps a :class:`TransferRecord` per call.
    """

    link: object
    snr_db: float
    generator: torch.Generator | None = None
    seed: int | None = None
    log: list[TransferRecord] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not hasattr(self.link, "transmit"):
            raise KnowledgeBaseError(f"a LinkTransport needs a DigitalLink, got {type(self.link).__name__}")
        if self.generator is None and self.seed is not None:
            self.generator = torch.Generator().manual_seed(int(self.seed))

    def __call__(self, payload: bytes) -> Delivery:
        if not payload:
            raise KnowledgeBaseError("nothing to send: the update is empty")
        tx = self.link.transmit(bytes(payload), float(self.snr_db), self.generator)
        self.log.append(
            TransferRecord(len(payload), tx.num_blocks, int((~tx.block_ok).sum()), tx.coded_bits, tx.channel_uses, str(tx.mcs))
        )
        return Delivery(tx.data, int(tx.payload_bits), int(tx.channel_uses), tx.ok)

    send = __call__

    @property
    def bits(self) -> int:
        return sum(8 * r.payload_bytes for r in self.log)

    @property
    def channel_uses(self) -> int:
        return sum(r.channel_uses for r in self.log)
