"""Model optimisation and instruction optimisation: the lifecycle of the models the network runs.

- :mod:`semcom.optimisation.registry`: models as signed knowledge-base versions, deployed over the links.
- :mod:`semcom.optimisation.artefacts`: models as bytes (safetensors, int8 weights) and back.
- :mod:`semcom.optimisation.drift`: Page-Hinkley and CUSUM drift detectors, detection delay and false alarms.
- :mod:`semcom.optimisation.placement`: where to retrain (device, edge, cloud) from compute, queueing and bits.
- :mod:`semcom.optimisation.compression`: int8 quantisation, pruning, distillation, the pick per device.
- :mod:`semcom.optimisation.lifecycle`: the ``model_optimisation`` service (monitor, retrain, redeploy).
- :mod:`semcom.optimisation.feedback`: receivers' feedback at the edge, its filters, preference pairs.
- :mod:`semcom.optimisation.prompts`: structured prompts (subject / attributes / scene) scored at the edge.
- :mod:`semcom.optimisation.policy`: the prompt model, its supervised fine-tuning and DPO (``trl``).
- :mod:`semcom.optimisation.instruct`: the ``instruction_optimisation`` service.
- :mod:`semcom.optimisation.config`: the TOML configs of ``semcom lifecycle run`` and ``semcom instruct run``.

The two services register in :data:`~semcom.network.services.SERVICES` when their modules are imported.
"""
