"""Federated training over the node model, with Flower: apps, strategies, levers, partitions, tasks.

- :mod:`semcom.federated.payload`: broadcasts and updates as bytes (quantisation, top-k, CRC-32).
- :mod:`semcom.federated.grid`: Flower grids whose messages cross simulated links; an in-process grid.
- :mod:`semcom.federated.apps`: ``ClientApp`` / ``ServerApp``, strategies by name, the update-codec mod.
- :mod:`semcom.federated.model`: LoRA adapters (peft), frozen layers, the arrays that travel.
- :mod:`semcom.federated.task`: the task contract and the one local training loop.
- :mod:`semcom.federated.partition`: IID, topic and Dirichlet partitions of local data.
- :mod:`semcom.federated.prompt_lm`, :mod:`semcom.federated.jscc`: the two tasks on semcom's own models.
- :mod:`semcom.federated.service`: :class:`FederatedTrainingService` (``federated_training`` in ``SERVICES``).
- :mod:`semcom.federated.config`: ``semcom fl run`` configs (TOML).
- :mod:`semcom.federated.flower_app`: module-level Flower apps for ``flwr run`` on a deployment.

Flower (``flwr``) and ``peft`` come with the ``fl`` extra: ``pip install -e ".[fl]"``.
"""
