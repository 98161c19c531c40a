"""Every rule of the pack; importing this module registers them in POLICIES."""

from . import aws_eks, karpenter, kubernetes, pod_security, rbac, stack, workloads  # noqa: F401  (registration happens at import)
from .base import POLICIES

__all__ = ["POLICIES"]
