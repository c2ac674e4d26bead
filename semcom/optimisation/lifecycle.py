"""Model lifecycle on the node model: monitor, detect drift, retrain where compute is, redeploy.

:class:`ModelOptimisationService` (``model_optimisation`` in :data:`~semcom.network.services.SERVICES`)
serves a stream of images from a device over its JSCC link to the edge, one every ``interval_s``
simulated seconds, through traffic phases whose channel changes (e.g. AWGN, then Rayleigh fading). The
receiver measures PSNR per image and a drift detector (:mod:`semcom.optimisation.drift`) watches it. On
an alarm the service

1. states the fine-tuning job: FLOP and memory of one training step measured on the model
   (:func:`~semcom.optimisation.placement.training_footprint`) times the steps, the bits of the training
   images and of the model;
2. picks where to run it (:func:`~semcom.optimisation.placement.choose_site`: compute, queueing and the
   bits to move) and charges that time on a fork of the clock (traffic goes on meanwhile);
3. runs the fine-tuning for real (:class:`JSCCRetrainer`: :func:`semcom.jscc.train.train` from the
   serving weights on the channel the receiver now observes);
4. compresses it for the device: of the artefact formats allowed (``formats``: float16 safetensors,
   ``int8-weights``), those that fit the device's model memory (``device_model_bytes``) are decoded as
   the device would and validated; the best is kept;
5. validates the result against the serving model on held-out images of the new channel, and only if
   it is better publishes it in the registry (a signed KB version) and pushes it to the device over the
   links (:class:`~semcom.optimisation.registry.NetworkTransport`); the device verifies the update
   before it loads the new model.

Images that arrive before the new model is in place are served by the old one. The report gives the
PSNR before the change, during the drift (old model) and after the redeployment, the detection delay,
false alarms, where retraining ran and why, and the time to recover (simulated seconds from the change
to the new model in service).
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import torch

from semcom.errors import ConfigError, InputError
from semcom.link.analog import AnalogLink
from semcom.network.clock import SimClock
from semcom.network.nodes import Network
from semcom.network.services import SERVICES, Service, ServiceReport
from semcom.optimisation.artefacts import artefact, module_from_bytes
from semcom.optimisation.drift import make_detector
from semcom.optimisation.placement import RetrainJob, choose_site, training_footprint, transfer_seconds
from semcom.optimisation.registry import ModelRegistry, ServingNode


@dataclass(frozen=True)
class TrafficPhase:
    """``items`` images sent over ``channel`` (a registered channel name, with its options), at ``snr_db``
    (None: the run's SNR)."""

    channel: str
    items: int
    channel_options: dict = field(default_factory=dict)
    snr_db: float | None = None


class JSCCRetrainer:
    """Fine-tunes a JSCC model for a channel, for real, with :func:`semcom.jscc.train.train`.

    data: folder of training images (BSDS500 train); ``max_images`` of them are used, and their file
    bytes are what moving the data costs. ``steps``, ``batch``, ``crop``, ``lr``: the fine-tuning.
    """

    def __init__(self, data: str | Path, *, steps: int = 100, batch: int = 4, crop: int = 64, lr: float = 1e-3,
                 warmup: int = 10, max_images: int = 40, seed: int = 0, threads: int = 1):
        from semcom.jscc.data import list_images

        files = list_images(data)[:max_images]
        if not files:
            raise InputError(f"no training images in {data}")
        if steps < 1 or batch < 1 or crop < 16 or crop % 16:
            raise ConfigError(f"fine-tuning needs steps >= 1, batch >= 1 and crop a multiple of 16; got "
                              f"{steps}, {batch}, {crop}")
        self.data, self.files = str(data), files
        self.steps, self.batch, self.crop, self.lr, self.warmup = steps, batch, crop, lr, warmup
        self.max_images, self.seed, self.threads = max_images, seed, threads

    @property
    def data_bits(self) -> int:
        return 8 * sum(f.stat().st_size for f in self.files)

    def footprint(self, module: torch.nn.Module, channel: str, options: Mapping[str, Any]) -> tuple[float, int]:
        """(FLOP of the whole fine-tuning, memory in bytes) on ``channel``."""
        import copy

        model = copy.deepcopy(module)
        model.link = AnalogLink(channel, seed=0, **dict(options))
        x = torch.rand(self.batch, 3, self.crop, self.crop, generator=torch.Generator().manual_seed(0))
        flops, memory = training_footprint(
            model, lambda: torch.nn.functional.mse_loss(model(x, 10.0).reconstruction, x))
        return flops * self.steps, memory

    def __call__(self, module: torch.nn.Module, channel: str, options: Mapping[str, Any]) -> tuple[torch.nn.Module, dict]:
        """The fine-tuned model (a new module) and facts of the run."""
        from semcom.jscc import load_checkpoint, save_checkpoint
        from semcom.jscc.train import TrainOptions, train

        threads = torch.get_num_threads()
        with tempfile.TemporaryDirectory(prefix="semcom-retrain-") as tmp:
            base = save_checkpoint(module, Path(tmp) / "base", name="serving", dtype=torch.float32)
            config = module.config
            opts = TrainOptions(
                data=self.data, out=str(Path(tmp) / "out"), state_dir=str(Path(tmp) / "state"), cbr=config.cbr,
                channel=channel, channel_options=dict(options), widths=tuple(config.widths),
                blocks=tuple(config.blocks), linear_skip=config.linear_skip, steps=self.steps, batch=self.batch,
                crop=self.crop, lr=self.lr, warmup=self.warmup, val_every=0, final_eval=False, ckpt_every=0,
                init=str(base), seed=self.seed, threads=self.threads, max_train_images=self.max_images,
                progress=False)
            start = time.monotonic()
            summary = train(opts)
            if summary.get("signal") is not None:  # Ctrl-C or a kill stopped the fine-tuning: stop the run too
                raise KeyboardInterrupt
            seconds = time.monotonic() - start
            model = load_checkpoint(summary["checkpoint"])
        torch.set_num_threads(threads)
        return model, {"steps": summary["steps"], "wall_s": seconds, "channel": channel, "batch": self.batch,
                       "crop": self.crop, "lr": self.lr, "images": len(self.files)}


def _psnr(model: torch.nn.Module, x: torch.Tensor, snr_db: float, gen: torch.Generator) -> float:
    from semcom.jscc import psnr

    with torch.no_grad():
        rec = model(x[None], snr_db, generator=gen).reconstruction
    return float(psnr(rec, x[None])[0])


def validation_psnr(model: torch.nn.Module, images: Sequence[torch.Tensor], channel: str,
                    options: Mapping[str, Any], snr_db: float, seed: int = 1234) -> float:
    """Mean PSNR of ``model`` over ``images`` ([3, H, W] float in [0, 1]) on ``channel`` (seeded noise)."""
    model.link = AnalogLink(channel, seed=seed, **dict(options))
    gen = torch.Generator().manual_seed(seed)
    return float(np.mean([_psnr(model, x, snr_db, gen) for x in images]))


@SERVICES.register("model_optimisation")
class ModelOptimisationService(Service):
    """Monitor a deployed JSCC model, detect drift, retrain where it is fastest, redeploy through the registry.

    run(network, clock, *, registry, serving, publisher, device, images, phases, snr_db, validation,
        interval_s=1.0, data_at=None, queues=None, candidates=None, seed=0) -> ServiceReport

    registry:   the publisher's :class:`ModelRegistry`, with ``serving`` attached to it.
    serving:    the device's :class:`ServingNode` (the model in service).
    publisher / device: node names (the registry's node, and the node that sends the images).
    images:     [3, H, W] float images of the traffic (drawn in a seeded order).
    validation: [3, H, W] float images a new model is validated on before it is published.
    """

    name = "model_optimisation"

    def __init__(self, retrainer: JSCCRetrainer, detector: Mapping[str, Any] | None = None,
                 model_name: str = "jscc", formats: Sequence[str] = ("safetensors",),
                 device_model_bytes: int | None = None):
        from semcom.optimisation.artefacts import FORMATS

        spec = dict(detector or {"name": "cusum", "window": 4, "k": 0.5, "h": 5.0, "burn_in": 8})
        self.detector_spec = spec
        make_detector(**spec)  # checks the spec now
        if not formats or any(f not in FORMATS for f in formats):
            raise ConfigError(f"formats must be a non-empty list of {', '.join(FORMATS)}, got {list(formats)}")
        self.retrainer, self.model_name = retrainer, model_name
        self.formats, self.device_model_bytes = tuple(formats), device_model_bytes

    def run(self, network: Network, clock: SimClock, *, registry: ModelRegistry, serving: ServingNode,
            publisher: str, device: str, images: Sequence[torch.Tensor], phases: Sequence[TrafficPhase],
            snr_db: float, validation: Sequence[torch.Tensor], interval_s: float = 1.0, data_at: str | None = None,
            queues: Mapping[str, float] | None = None, candidates: Sequence[str] | None = None,
            seed: int = 0) -> ServiceReport:
        if not images or not phases or not validation:
            raise InputError("the lifecycle needs traffic images, phases and validation images")
        if serving.module is None:
            raise ConfigError(f"node {device!r} serves no model yet: publish and deploy one first")
        if not interval_s > 0:
            raise ConfigError(f"interval_s must be positive, got {interval_s}")
        network.node(publisher), network.node(device)
        up = network.link(device, publisher)
        rng = np.random.default_rng(seed)
        gen = torch.Generator().manual_seed(seed)
        detector = make_detector(**self.detector_spec)
        start, start_entries, events0 = clock.now, len(clock.ledger), len(registry.events())
        schedule = [(p, k) for p in phases for k in range(p.items)]
        change_items = np.cumsum([p.items for p in phases])[:-1].tolist()
        active, active_version = serving.module, serving.version
        pending: tuple[Fraction, torch.nn.Module, str | None] | None = None
        forks, rows, retrains, alarms = [], [], [], []
        channel_uses = 0
        links: dict[tuple, AnalogLink] = {}
        for i, (phase, _) in enumerate(schedule):
            arrival = start + Fraction(i) * Fraction(interval_s)
            if clock.now < arrival:
                clock.advance(arrival - clock.now)
            if pending is not None and arrival >= pending[0]:
                active, active_version, pending = pending[1], pending[2], None
                detector.reset()
            key = (phase.channel, tuple(sorted(phase.channel_options.items())))
            if key not in links:
                links[key] = AnalogLink(phase.channel, seed=seed + len(links), **phase.channel_options)
            active.link = links[key]
            x = images[int(rng.integers(len(images)))]
            snr = snr_db if phase.snr_db is None else phase.snr_db
            value = _psnr(active, x, snr, gen)
            uses = active.channel_uses_for(x.shape[1], x.shape[2])
            clock.charge_transmission(up, int(uses))
            channel_uses += int(uses)
            rows.append({"item": i, "time_s": float(arrival), "channel": phase.channel, "snr_db": snr,
                         "version": (active_version or "")[:8], "psnr_db": value})
            if pending is not None:  # a retrained model is on its way: no second job
                continue
            if detector.update(value):
                alarms.append(i)
                fork = clock.fork()
                retrain = self._retrain(network, fork, registry, serving, publisher, device, active, phase, snr,
                                        validation, data_at or publisher, queues, candidates, i, float(arrival))
                retrains.append(retrain)
                forks.append(fork)
                if retrain["deployed"]:
                    pending = (fork.now, serving.module, serving.version)
                    retrain["in_service_s"] = float(fork.now)
                detector.reset()
        for fork in forks:  # a retraining that ended while traffic went on: its charges, not its time
            if fork.now < clock.now:
                clock.ledger.extend(fork.ledger)
        clock.join(*[f for f in forks if f.now >= clock.now])
        return self._report(clock, start, start_entries, registry.events(events0), rows, alarms, retrains,
                            change_items, interval_s, channel_uses)

    # ------------------------------------------------------------------------------------------ steps

    def _retrain(self, network, fork: SimClock, registry, serving, publisher, device, active, phase, snr_db,
                 validation, data_at, queues, candidates, item, t) -> dict:
        flops, memory = self.retrainer.footprint(active, phase.channel, phase.channel_options)
        data, _ = artefact("jscc", active, self.formats[0])
        job = RetrainJob(flops, memory, self.retrainer.data_bits, data_at, 8 * len(data), publisher, 8 * len(data))
        placement = choose_site(network, job, queues, candidates)
        site = placement.estimate(placement.node)
        for src, dst, bits in ((data_at, placement.node, job.data_bits), (publisher, placement.node, job.model_bits)):
            self._charge_move(network, fork, src, dst, bits)
        fork.advance(Fraction(site.queue_s))
        fork.charge_compute(network.node(placement.node), flops)
        self._charge_move(network, fork, placement.node, publisher, job.result_bits)
        model, facts = self.retrainer(active, phase.channel, phase.channel_options)
        old = validation_psnr(active, validation, phase.channel, phase.channel_options, snr_db)
        out = {"alarm_item": item, "alarm_time_s": t, "channel": phase.channel, "site": placement.node,
               "site_kind": placement.kind, "why": placement.why, "placement": placement.as_dict(),
               "flops": flops, "memory_bytes": memory, "fine_tune": facts, "validation_old_db": old,
               "deployed": False, "formats": {}}
        best = None
        for fmt in self.formats:  # compress for the device: each format as the device would load it
            data, meta = artefact("jscc", model, fmt)
            fits = self.device_model_bytes is None or len(data) <= self.device_model_bytes
            score = validation_psnr(module_from_bytes(data, meta), validation, phase.channel,
                                    phase.channel_options, snr_db) if fits else None
            out["formats"][fmt] = {"bytes": len(data), "fits": fits, "validation_db": score}
            if fits and (best is None or score > best[0]):
                best = (score, fmt, data, meta)
        if best is None:
            out["reason"] = f"not deployed: no format fits the device's {self.device_model_bytes} bytes"
            out["validation_new_db"] = float("nan")
            return out
        new, fmt, data, meta = best
        out.update(validation_new_db=new, format=fmt)
        if new <= old:
            out["reason"] = f"not deployed: validation PSNR {new:.2f} dB is not above the serving model's {old:.2f} dB"
            return out
        before = len(registry.events())
        for view in registry.manager.receivers.values():
            view.transport.clock = fork
        version = registry.publish(self.model_name, data, family=meta["family"], format=meta["format"],
                                   config=meta["config"], parameters=meta["parameters"],
                                   metrics={"validation_psnr_db": new, "snr_db": snr_db},
                                   details={"channel": phase.channel, "site": placement.node, **facts})
        delivery = [e for e in registry.events(before) if e.receiver == device]
        accepted = bool(delivery) and delivery[-1].accepted and serving.version == version
        out.update(version=version[:8], update_bytes=sum(e.update_bytes for e in delivery),
                   update_bits=sum(e.bits for e in delivery), update_channel_uses=sum(e.channel_uses for e in delivery),
                   deployed=accepted, reason="" if accepted else
                   f"update refused or lost: {delivery[-1].reason if delivery else 'not sent'}")
        return out

    @staticmethod
    def _charge_move(network: Network, clock: SimClock, src: str, dst: str, bits: int) -> None:
        seconds, path = transfer_seconds(network, src, dst, bits)
        for a, b in zip(path, path[1:]):
            link = network.link(a, b)
            clock.charge_transmission(link, int(link.digital_link().plan(int(bits), link.snr_db).channel_uses))

    def _report(self, clock, start, start_entries, events, rows, alarms, retrains, change_items, interval_s,
                channel_uses) -> ServiceReport:
        change = change_items[0] if change_items else len(rows)
        deployed = [r for r in retrains if r["deployed"]]
        switch = next((i for i, r in enumerate(rows) if deployed and r["time_s"] >= deployed[0]["in_service_s"]), None)
        for i, r in enumerate(rows):
            r["phase"] = "before" if i < change else ("after" if switch is not None and i >= switch else "during")
        mean = lambda phase: float(np.mean([r["psnr_db"] for r in rows if r["phase"] == phase])) \
            if any(r["phase"] == phase for r in rows) else float("nan")
        true_alarms = [a for a in alarms if a >= change]
        metrics = {
            "items": float(len(rows)), "change_item": float(change),
            "psnr_before_db": mean("before"), "psnr_during_db": mean("during"), "psnr_after_db": mean("after"),
            "false_alarms": float(sum(a < change for a in alarms)),
            "stationary_items": float(change),
            "detection_delay_items": float(true_alarms[0] - change) if true_alarms else float("nan"),
            "detection_delay_s": float((true_alarms[0] - change) * interval_s) if true_alarms else float("nan"),
            "retrainings": float(len(retrains)), "deployments": float(len(deployed)),
        }
        recovered = [r for r in deployed if r["alarm_item"] >= change]
        if recovered:
            metrics["time_to_recover_s"] = recovered[0]["in_service_s"] - float(start) - change * interval_s
            metrics["retrain_wall_s"] = recovered[0]["fine_tune"]["wall_s"]
        charges = clock.ledger[start_entries:]
        bits = sum(e.bits for e in events)
        return ServiceReport(
            self.name, int(bits), int(channel_uses + sum(e.channel_uses for e in events)), clock.now - start,
            sum((c.seconds for c in charges if c.kind == "compute"), Fraction(0)),
            sum((c.seconds for c in charges if c.kind == "transmission"), Fraction(0)),
            metrics, [{"kind": "retrain", **r} for r in retrains] + [{"kind": "item", **r} for r in rows])
