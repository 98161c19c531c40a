"""Names and tags derived once from the stack config, so every layer agrees on them."""

from __future__ import annotations

from components.config import PROJECT, StackConfig


def cluster_name(config: StackConfig) -> str:
    return f"{PROJECT}-{config.environment}"


def common_tags(config: StackConfig) -> dict[str, str]:
    return {
        "eks-platform/environment": config.environment,
        "eks-platform/cluster": cluster_name(config),
        "managed-by": "pulumi",
    }
