"""The stack config: one typed model (`StackConfig`), validated at load.

Import what callers need from here; the submodules split the model by concern.
"""

from .loader import PROJECT, StackConfigError, load_from_pulumi, parse_stack_config
from .issues import ConfigIssue
from .stack import StackConfig

__all__ = ["PROJECT", "ConfigIssue", "StackConfig", "StackConfigError", "load_from_pulumi",
           "parse_stack_config"]
