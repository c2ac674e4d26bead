"""The errors and the registry that ``channels/``, ``knowledge_base/`` and ``semcom/`` share.

- :mod:`semcore.errors`: the error hierarchy (:class:`~semcore.errors.SemcomError` and its kinds).
- :mod:`semcore.registry`: :class:`~semcore.registry.Registry`, name -> factory lookups of stages.

It imports nothing of the project, so every package can depend on it.
"""
