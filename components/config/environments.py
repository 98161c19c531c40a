"""Every dev/prod difference of the platform, as the default of an ordinary stack key.

The loader merges the stack's column under the stack file (a key the file sets always wins), so
components read one value instead of asking which environment they are in. The README's config
reference shows these defaults per environment. A leaf module: the model, the loader and the
reference generator all read it.
"""

from __future__ import annotations

from typing import Any

from pydantic.alias_generators import to_snake

# key path (as the stack file spells it) -> {environment: default}
ENVIRONMENT_DEFAULTS: dict[str, dict[str, Any]] = {
    "highAvailability": {"dev": False, "prod": True},
    "retainVolumes": {"dev": False, "prod": True},
    "cluster.protect": {"dev": False, "prod": True},
    "addons.metricsServerReplicas": {"dev": 1, "prod": 2},
    "autoscaler.karpenter.controllerReplicas": {"dev": 1, "prod": 2},
    "certManager.replicas": {"dev": 1, "prod": 2},
    "logging.operatorReplicas": {"dev": 1, "prod": 2},
    "logging.kibanaReplicas": {"dev": 1, "prod": 2},
    "ingress.loadBalancerController.replicas": {"dev": 1, "prod": 2},
    "logging.elasticsearch.retainVolumes": {"dev": False, "prod": True},
}

# A platform controller that must survive a node or zone going away runs at least this many
# replicas: always in prod, and wherever highAvailability is true.
HA_MINIMUM_REPLICAS = 2
HA_REPLICA_KEYS = ("addons.metricsServerReplicas", "autoscaler.karpenter.controllerReplicas",
                   "certManager.replicas", "logging.operatorReplicas", "logging.kibanaReplicas",
                   "ingress.loadBalancerController.replicas")


def dev_default(key: str) -> Any:
    """The model's own default of an environment key: dev's (the loader fills in prod's)."""
    return ENVIRONMENT_DEFAULTS[key]["dev"]


def defaulted_keys_under(prefix: str) -> set[str]:
    """Attribute names directly under `prefix` that every environment fills in."""
    return {to_snake(key[len(prefix) + 1:]) for key in ENVIRONMENT_DEFAULTS
            if key.startswith(prefix + ".") and "." not in key[len(prefix) + 1:]}


def value_at(config: Any, key: str) -> Any:
    """The value of a dotted stack-file key (`certManager.replicas`) in a parsed config."""
    for part in key.split("."):
        config = getattr(config, to_snake(part))
    return config
