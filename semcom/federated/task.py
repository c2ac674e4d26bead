"""A federated task: a base model, each client's local data, a loss, and a held-out metric.

Tasks are found by name in :data:`TASKS` (``prompt_lm``: the prompt codec's language model on
captions of new topics; ``jscc``: the shipped JSCC model on a new channel). :func:`local_train`
is the one training loop every client (and the local-only and pooled references) runs: ``steps``
optimiser steps of ``batch`` examples, each split into ``accumulation`` micro-batches whose
gradients add up (same update, less activation memory), Adam, gradient clipping, and FedProx's
proximal term ``mu / 2 * ||w - w_global||^2`` when ``proximal_mu > 0``.

Training FLOPs are counted as 3 x the forward FLOPs of the examples seen (forward + backward).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar, Mapping

import numpy as np
import torch
from torch import nn

from semcom.errors import ConfigError
from semcom.registry import Registry

TASKS: Registry = Registry("federated task")

#: Clients whose data :meth:`FederatedTask.sample_batch` pools: ``POOLED`` draws from every client.
POOLED = -1


class FederatedTask(ABC):
    """What the service trains. Subclasses set ``name``, ``metric`` (a name with its unit) and
    ``higher_is_better``, and implement the methods below."""

    name: ClassVar[str]
    metric: ClassVar[str]
    higher_is_better: ClassVar[bool]

    @property
    @abstractmethod
    def num_clients(self) -> int: ...

    @abstractmethod
    def client_examples(self, client: int) -> int:
        """Examples client ``client`` holds (its FedAvg weight n_k)."""

    @abstractmethod
    def build_model(self) -> nn.Module:
        """A fresh copy of the base model, in train mode (every node starts from the same weights)."""

    @abstractmethod
    def sample_batch(self, client: int, size: int, generator: torch.Generator) -> Any:
        """``size`` examples of ``client`` (or of all clients for :data:`POOLED`)."""

    @abstractmethod
    def loss(self, model: nn.Module, batch: Any, generator: torch.Generator) -> torch.Tensor:
        """Scalar training loss of ``batch``."""

    @abstractmethod
    def forward_flops(self, model: nn.Module, batch: Any) -> float:
        """Forward-pass FLOPs of ``batch``."""

    @abstractmethod
    def evaluate(self, model: nn.Module) -> float:
        """The metric of ``model`` on the task's held-out data."""

    def describe(self) -> dict:
        """Facts about the data and the base model, for reports."""
        return {"task": self.name, "metric": self.metric, "clients": self.num_clients,
                "examples": [self.client_examples(i) for i in range(self.num_clients)]}


@dataclass(frozen=True)
class TrainSettings:
    """Local training of one round: ``steps`` optimiser steps of ``batch`` examples at learning rate
    ``lr``, each in ``accumulation`` micro-batches; ``clip`` the gradient-norm limit (0: none)."""

    steps: int = 10
    batch: int = 16
    lr: float = 1e-3
    accumulation: int = 1
    clip: float = 1.0

    def __post_init__(self) -> None:
        for key in ("steps", "batch", "accumulation"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"{key} must be a positive integer, got {value!r}")
        if self.batch % self.accumulation:
            raise ConfigError(f"batch {self.batch} must be a multiple of accumulation {self.accumulation}")
        if not self.lr > 0 or self.clip < 0:
            raise ConfigError(f"lr must be > 0 and clip >= 0, got {self.lr}, {self.clip}")


@dataclass
class TrainStats:
    """What :func:`local_train` did: mean loss, examples seen, training FLOPs."""

    loss: float
    examples: int
    flops: float


def local_train(task: FederatedTask, model: nn.Module, client: int, settings: TrainSettings,
                generator: torch.Generator, *, proximal_mu: float = 0.0,
                anchor: Mapping[str, torch.Tensor] | None = None) -> TrainStats:
    """Train ``model``'s trainable parameters on ``client``'s data; see the module doc.

    anchor: the global parameters of FedProx's proximal term (default: the values at the start).
    """
    params = {n: p for n, p in model.named_parameters() if p.requires_grad}
    if not params:
        raise ConfigError("the model has no trainable parameters")
    if proximal_mu < 0:
        raise ConfigError(f"proximal mu must be >= 0, got {proximal_mu}")
    if proximal_mu > 0 and anchor is None:
        anchor = {n: p.detach().clone() for n, p in params.items()}
    opt = torch.optim.Adam(params.values(), lr=settings.lr)
    model.train()
    micro = settings.batch // settings.accumulation
    losses, flops, examples = [], 0.0, 0
    for _ in range(settings.steps):
        opt.zero_grad(set_to_none=True)
        step_loss = 0.0
        for _ in range(settings.accumulation):
            batch = task.sample_batch(client, micro, generator)
            loss = task.loss(model, batch, generator) / settings.accumulation
            if proximal_mu > 0:
                loss = loss + proximal_mu / 2 / settings.accumulation * sum(
                    (p - anchor[n]).pow(2).sum() for n, p in params.items())
            loss.backward()
            step_loss += float(loss.detach())
            flops += 3.0 * task.forward_flops(model, batch)
            examples += micro
        if settings.clip:
            nn.utils.clip_grad_norm_(params.values(), settings.clip)
        opt.step()
        losses.append(step_loss)
    model.eval()
    return TrainStats(float(np.mean(losses)), examples, flops)
