"""Reusable Pulumi components of the eks-platform program, one concern per module."""
