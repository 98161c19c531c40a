"""The eks-platform CrossGuard policy pack (rules in policies/rules)."""
