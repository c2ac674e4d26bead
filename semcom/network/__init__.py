"""Network layer: nodes, links, simulated time, services and the control plane.

- :mod:`semcom.network.nodes`: :class:`Node`, :class:`Link`, :class:`Network`.
- :mod:`semcom.network.clock`: :class:`SimClock`, exact simulated time.
- :mod:`semcom.network.services`: the :class:`Service` contract, :data:`SERVICES`, the
  semantic-communication and data-sensing services.
- :mod:`semcom.network.control`: KB sync over links and downlink resource allocation.
- :mod:`semcom.network.scenario`: multi-user scenarios from TOML (``semcom network simulate``).
"""

from semcom.network.clock import Charge, SimClock
from semcom.network.control import (
    ALLOCATION_POLICIES,
    Action,
    Allocation,
    ControlPlane,
    Demand,
    UserProfile,
    allocate,
    build_menu,
    equal_share,
    objective,
    optimise,
)
from semcom.network.fidelity import SIMILARITIES, token_f1
from semcom.network.nodes import NODE_KINDS, Link, Network, Node
from semcom.network.services import (
    SERVICES,
    DataSensingService,
    FlopModel,
    SemanticCommunicationService,
    Service,
    ServiceReport,
    SinusoidEstimator,
    TemperatureSensor,
    Delivered,
)

__all__ = [
    "Charge", "SimClock", "ALLOCATION_POLICIES", "Action", "Allocation", "ControlPlane", "Demand", "UserProfile",
    "allocate", "build_menu", "equal_share", "objective", "optimise", "SIMILARITIES", "token_f1", "NODE_KINDS",
    "Link", "Network", "Node", "SERVICES", "DataSensingService", "FlopModel",
    "SemanticCommunicationService", "Service", "ServiceReport", "SinusoidEstimator", "TemperatureSensor",
    "Delivered",
]
