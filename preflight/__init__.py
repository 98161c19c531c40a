"""preflight: the offline plan and policy gate of eks-platform (no cloud, no CLI needed)."""
