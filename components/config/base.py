"""Building blocks shared by every part of the stack-config model.

Stack files are written in camelCase (the Pulumi convention); the model uses snake_case
attributes and accepts only the camelCase spelling, so a stack file has one right way to
say each thing. Unknown keys are errors: a typo must never fall back to a default silently.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, SecretStr
from pydantic.alias_generators import to_camel


class StrictModel(BaseModel):
    """Base of every config section: camelCase keys, unknown keys rejected, immutable."""

    model_config = ConfigDict(
        extra="forbid",
        alias_generator=to_camel,
        populate_by_name=False,
        frozen=True,
        validate_default=True,
        hide_input_in_errors=False,
    )


_DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def _dns1123_label(value: str) -> str:
    if len(value) > 63 or not _DNS1123_LABEL.match(value):
        raise ValueError(
            "must be a DNS-1123 label: at most 63 lowercase letters, digits or '-', "
            "starting and ending with a letter or digit (e.g. 'checkout-api')"
        )
    return value


DnsLabel = Annotated[str, AfterValidator(_dns1123_label)]
"""A Kubernetes object name that is also safe as a namespace or label value."""


_DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


def _hostname(value: str) -> str:
    if len(value) > 253 or not _DNS1123_SUBDOMAIN.match(value) or "." not in value:
        raise ValueError("must be a fully qualified lowercase host name such as 'shop.example.com'")
    return value


Hostname = Annotated[str, AfterValidator(_hostname)]


def _cidr(value: str) -> str:
    try:
        return str(ipaddress.ip_network(value, strict=True))
    except ValueError as err:
        raise ValueError(f"must be an IPv4 CIDR block such as '10.0.0.0/16' ({err})") from None


Cidr = Annotated[str, AfterValidator(_cidr)]


_IAM_PRINCIPAL_ARN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:(role|user)/[\w+=,.@/-]+$")


def _iam_principal_arn(value: str) -> str:
    if not _IAM_PRINCIPAL_ARN.match(value):
        raise ValueError(
            "must be an IAM role or user ARN such as 'arn:aws:iam::123456789012:role/platform-admin'"
        )
    return value


IamPrincipalArn = Annotated[str, AfterValidator(_iam_principal_arn)]


def _quoted_version(value: object) -> object:
    # YAML reads an unquoted 1.30 as the float 1.3: refuse numbers instead of guessing.
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        raise ValueError(f'must be a quoted string such as "1.33" (YAML read {value!r} as a number)')
    return value


QuotedString = Annotated[str, BeforeValidator(_quoted_version)]
"""A string that YAML might otherwise read as a number (versions, quantities)."""


_QUANTITY = re.compile(r"^[0-9]+(\.[0-9]+)?(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$")


def _quantity(value: object) -> str:
    if isinstance(value, bool):
        raise ValueError("must be a Kubernetes quantity such as '500m', '2' or '1Gi'")
    text = str(value)
    if not _QUANTITY.match(text):
        raise ValueError("must be a Kubernetes quantity such as '500m', '2' or '1Gi'")
    return text


Quantity = Annotated[str, BeforeValidator(_quantity)]
"""A Kubernetes resource quantity; bare numbers (cpu: 2) are accepted and kept as text."""


_DURATION = re.compile(r"^([0-9]+(ms|s|m|h|d|w|y))+$")


def _duration(value: str) -> str:
    if not _DURATION.match(value):
        raise ValueError("must be a duration such as '30s', '5m', '2h' or '15d'")
    return value


Duration = Annotated[str, AfterValidator(_duration)]


Secret = SecretStr
"""A value that must come from `pulumi config set --secret`; wrapped in Output.secret on use."""


_UNITS = {"": 1, "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15, "E": 10**18,
          "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60, "m": 10**-3}


def quantity_value(quantity: str) -> float:
    """The numeric value of a Kubernetes quantity ('500m' -> 0.5, '1Gi' -> 1073741824)."""
    match = re.match(r"^([0-9]+(?:\.[0-9]+)?)([a-zA-Z]*)$", quantity)
    if not match:
        raise ValueError(f"not a quantity: {quantity!r}")
    number, unit = match.groups()
    return float(number) * _UNITS[unit]
