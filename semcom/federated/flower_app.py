"""Module-level Flower apps, for ``flwr run`` on a deployment (``flower-superlink`` + ``flower-supernode``).

A Flower App project points at them in its ``pyproject.toml``::

    [tool.flwr.app.components]
    serverapp = "semcom.federated.flower_app:server_app"
    clientapp = "semcom.federated.flower_app:client_app"

    [tool.flwr.app.config]
    config = "/path/to/fl_prompt_lm_silo.toml"   # a ``semcom fl run`` config, readable on every machine
    simulate-links = false                        # true: still put the node model's links under the real ones
    out = ""                                      # where the ServerApp writes result.json ("" : nowhere)

and every SuperNode is started with ``--node-config "partition-id=K num-partitions=N"`` (its client index).
The apps are the ones ``semcom fl run`` builds (:mod:`semcom.federated.apps`), made from the config on first
use in each process: the server runs the config's strategy and rounds, each client trains its partition.
Without ``simulate-links`` the payloads are still coded, compressed and checked (CRC-32), but nothing is
simulated or timed: the network is the real one.
"""

from __future__ import annotations

import json
from pathlib import Path

from flwr.app import Context, Message
from flwr.clientapp import ClientApp
from flwr.serverapp import Grid, ServerApp

from semcom.errors import ConfigError

_BUILT: dict[str, tuple] = {}


def _built(context: Context) -> tuple:
    """(config, client spec, client app) of the run's ``config``, built once per process."""
    from semcom.federated.apps import ClientSpec, make_client_app
    from semcom.federated.config import load_config

    path = str(context.run_config.get("config", ""))
    if not path:
        raise ConfigError("the Flower run config needs 'config': the path of a semcom fl TOML")
    if path not in _BUILT:
        cfg = load_config(path)
        spec = ClientSpec(cfg.task(log=lambda _: None), cfg.train, lora=cfg.lora, frozen=cfg.frozen, codec=cfg.codec,
                          error_feedback=cfg.error_feedback, seed=cfg.seed)
        _BUILT.clear()
        _BUILT[path] = (cfg, spec, make_client_app(spec))
    return _BUILT[path]


client_app = ClientApp()


@client_app.query()
def query(msg: Message, context: Context) -> Message:
    return _built(context)[2](msg, context)


@client_app.train()
def train(msg: Message, context: Context) -> Message:
    return _built(context)[2](msg, context)


@client_app.evaluate()
def evaluate(msg: Message, context: Context) -> Message:
    return _built(context)[2](msg, context)


server_app = ServerApp()


@server_app.main()
def main(grid: Grid, context: Context) -> None:
    from semcom.federated.apps import RunRecorder, ServerSpec, make_server_app
    from semcom.files import jsonable, write_text
    from semcom.network.clock import SimClock

    cfg, spec, _ = _built(context)
    simulated = bool(context.run_config.get("simulate-links", False))
    clock = SimClock() if simulated else None
    server = ServerSpec(spec, cfg.plan, cfg.network if simulated else None, clock, cfg.strategy,
                        dict(cfg.strategy_options), cfg.rounds, cfg.evaluate_every)
    recorder = RunRecorder()
    make_server_app(server, recorder)(grid, context)
    out = str(context.run_config.get("out", ""))
    if out:
        rows = [r.row() for r in recorder.rounds]
        result = {"rounds": rows, "metrics": recorder.metrics, "simulated_time_s": None if clock is None else float(clock.now)}
        write_text(Path(out) / "result.json", json.dumps(jsonable(result), indent=1) + "\n")
