"""The image-reference helpers under their older name (preflight/compose and tests import them
from here); the parsing lives in the leaf module image_reference."""

from .image_reference import EXPECTED_FORM, image_pin_problem

__all__ = ["EXPECTED_FORM", "image_pin_problem"]
