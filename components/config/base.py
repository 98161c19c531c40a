"""Building blocks shared by every part of the stack-config model.

Stack files are written in camelCase (the Pulumi convention); the model uses snake_case
attributes and accepts only the camelCase spelling, so a stack file has one right way to
say each thing. Unknown keys are errors: a typo must never fall back to a default silently.
"""

from __future__ import annotations

import ipaddress
import re
import types
import typing
from typing import Annotated, Any, Iterator, Literal

from pydantic import (AfterValidator, BaseModel, BeforeValidator, ConfigDict, SecretStr, ValidationInfo,
                      field_validator)
from pydantic.alias_generators import to_camel

from .issues import ConfigIssue


class StrictModel(BaseModel):
    """Base of every config section: camelCase keys, unknown keys rejected, immutable."""

    model_config = ConfigDict(
        extra="forbid",
        alias_generator=to_camel,
        populate_by_name=False,
        frozen=True,
        validate_default=True,
        hide_input_in_errors=False,
        use_attribute_docstrings=True,
    )

    @field_validator("*", mode="before")
    @classmethod
    def _numbers_are_not_booleans(cls, value: Any, info: ValidationInfo) -> Any:
        # pydantic would read YAML 1.1's `minSize: yes` as 1 and `off` as 0.
        if isinstance(value, bool) and info.field_name and _is_number(cls.model_fields[info.field_name].annotation):
            raise ValueError(f"must be a number, not {str(value).lower()} (YAML reads unquoted "
                             "yes/no/on/off/true/false as booleans)")
        return value

    def stack_issues(self, stack: Any, path: str) -> list[ConfigIssue]:
        """This section's rules that read keys outside it: `stack` is the whole StackConfig, `path`
        this section's key (`ingress.externalDns`). The root runs every section's (`sections`), so a
        new section brings its cross-key rules with it instead of an edit to components/config/stack.py."""
        return []

    def placeholder_issues(self, path: str) -> list[ConfigIssue]:
        """Example values in this section that `pulumi up` must refuse (components/config/access.py)."""
        return []


def sections(model: BaseModel, path: str = "") -> Iterator[tuple[str, StrictModel]]:
    """Every config section in `model`, itself first, with its key path as messages spell it
    (`ingress.externalDns`, `teams[0].apps[1]`)."""
    if isinstance(model, StrictModel):
        yield path, model
    for name, field in type(model).model_fields.items():
        key = f"{path}.{field.alias}" if path else field.alias
        value = getattr(model, name)
        items = (value.items() if isinstance(value, dict) else
                 enumerate(value) if isinstance(value, (list, tuple)) else [(None, value)])
        for index, item in items:
            if isinstance(item, BaseModel):
                where = key if index is None else f"{key}[{index}]" if isinstance(index, int) else f"{key}.{index}"
                yield from sections(item, where)


def _is_number(annotation: Any) -> bool:
    if annotation in (int, float):
        return True
    if typing.get_origin(annotation) is Annotated:
        return _is_number(typing.get_args(annotation)[0])
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return any(_is_number(arg) for arg in typing.get_args(annotation) if arg is not type(None))
    return False


def expects(text: str):
    """Name what a validator accepts, for the generated config reference (components/config/reference.py)."""
    def mark(check):
        check.expected = text
        return check
    return mark


def pattern(regex: str, what: str, example: str) -> AfterValidator:
    """A validator for text that must match `regex` entirely (ASCII only, no trailing newline),
    with a message that says what is expected and shows an example."""
    compiled = re.compile(regex, re.ASCII)

    def check(value: str) -> str:
        if not compiled.fullmatch(value):
            raise ValueError(f"must be {what} such as {example!r}")
        return value

    return AfterValidator(expects(f"{what}, e.g. `{example}`")(check))


# fullmatch everywhere: `$` in Python also matches before a trailing newline ("web\n").
_DNS1123_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_DNS1035_LABEL = re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?")


def _label(regex: re.Pattern, rule: str) -> AfterValidator:
    def check(value: str) -> str:
        if len(value) > 63 or not regex.fullmatch(value):
            raise ValueError(f"must be a {rule}: at most 63 lowercase letters, digits or '-', starting with "
                             "a letter" + ("" if regex is _DNS1035_LABEL else " or digit")
                             + " and ending with a letter or digit (e.g. 'checkout-api')")
        return value

    return AfterValidator(expects(rule.split(" (")[0])(check))


DnsLabel = Annotated[str, _label(_DNS1123_LABEL, "DNS-1123 label")]
"""A Kubernetes object name that is also safe as a namespace or label value."""

ServiceName = Annotated[str, _label(_DNS1035_LABEL, "DNS-1035 label (it names a Service)")]
"""A name that becomes a Kubernetes Service name, so it must also start with a letter."""


_DNS1123_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")


@expects("host name, e.g. `shop.example.com`")
def _hostname(value: str) -> str:
    if len(value) > 253 or not _DNS1123_SUBDOMAIN.fullmatch(value) or "." not in value:
        raise ValueError("must be a fully qualified lowercase host name such as 'shop.example.com'")
    return value


Hostname = Annotated[str, AfterValidator(_hostname)]


_LABEL_NAME = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]")


@expects("label key, e.g. `workload`")
def _label_key(value: str) -> str:
    prefix, _, name = value.rpartition("/")
    if (len(name) > 63 or not _LABEL_NAME.fullmatch(name)
            or (prefix and (len(prefix) > 253 or not _DNS1123_SUBDOMAIN.fullmatch(prefix)))):
        raise ValueError("must be a Kubernetes label key: an optional DNS prefix and '/', then at most 63 "
                         "letters, digits, '-', '_' or '.', starting and ending with a letter or digit "
                         "(e.g. 'workload' or 'example.com/pool')")
    return value


@expects("label value")
def _label_value(value: str) -> str:
    if value and (len(value) > 63 or not _LABEL_NAME.fullmatch(value)):
        raise ValueError("must be a Kubernetes label value: empty, or at most 63 letters, digits, '-', '_' "
                         "or '.', starting and ending with a letter or digit (e.g. 'system')")
    return value


LabelKey = Annotated[str, AfterValidator(_label_key)]
LabelValue = Annotated[str, AfterValidator(_label_value)]


@expects("IPv4 CIDR, e.g. `10.0.0.0/16`")
def _cidr(value: str) -> str:
    try:
        return str(ipaddress.IPv4Network(value, strict=True))
    except ValueError as err:
        raise ValueError(f"must be an IPv4 CIDR block such as '10.0.0.0/16' ({err})") from None


Cidr = Annotated[str, AfterValidator(_cidr)]


_IAM_PRINCIPAL_ARN = re.compile(r"arn:aws[a-z-]*:iam::\d{12}:(role|user)/[\w+=,.@/-]+", re.ASCII)


@expects("IAM role or user ARN")
def _iam_principal_arn(value: str) -> str:
    if len(value) > 2048 or not _IAM_PRINCIPAL_ARN.fullmatch(value):
        raise ValueError(
            "must be an IAM role or user ARN (ASCII) such as 'arn:aws:iam::123456789012:role/platform-admin'"
        )
    return value


IamPrincipalArn = Annotated[str, AfterValidator(_iam_principal_arn)]


@expects("quoted text")
def _quoted_version(value: object) -> object:
    # YAML reads an unquoted 1.30 as the float 1.3: refuse numbers instead of guessing.
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        raise ValueError(f'must be a quoted string such as "1.33" (YAML read {value!r} as a number)')
    return value


QuotedString = Annotated[str, BeforeValidator(_quoted_version)]
"""A string that YAML might otherwise read as a number (versions, quantities)."""


_QUANTITY = re.compile(r"[0-9]+(\.[0-9]+)?(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?")


@expects("Kubernetes quantity (`500m`, `2`, `1Gi`)")
def _quantity(value: object) -> str:
    if isinstance(value, bool):
        raise ValueError("must be a Kubernetes quantity such as '500m', '2' or '1Gi'")
    text = str(value)
    if not _QUANTITY.fullmatch(text):
        raise ValueError("must be a Kubernetes quantity such as '500m', '2' or '1Gi'")
    return text


Quantity = Annotated[str, BeforeValidator(_quantity)]
"""A Kubernetes resource quantity; bare numbers (cpu: 2) are accepted and kept as text."""


_DURATION = re.compile(r"([0-9]+(ms|s|m|h|d|w|y))+")


@expects("duration (`30s`, `5m`, `15d`)")
def _duration(value: str) -> str:
    if not _DURATION.fullmatch(value):
        raise ValueError("must be a duration such as '30s', '5m', '2h' or '15d'")
    return value


Duration = Annotated[str, AfterValidator(_duration)]


# CreateVolume accepts gp3 volumes of 1 to 65,536 GiB (64 TiB, raised from 16 TiB in 2025;
# EC2 API reference, CreateVolume "Size"). Every volume the platform claims is gp3.
GP3_MAX_GIB = 65536

WorkloadIdentity = Literal["pod-identity", "irsa"]
"""How a workload's pods get its IAM role: EKS Pod Identity (an association, the agent on each
node) or IRSA (the role-arn annotation, the cluster's OIDC provider)."""

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


class TaintConfig(StrictModel):
    """A Kubernetes taint on every node of a group (nodeGroups) or pool (Karpenter's nodePools),
    with the effect in the EKS spelling."""

    key: LabelKey
    """Taint key, e.g. `dedicated`."""
    value: LabelValue = ""
    """Taint value (may be empty)."""
    effect: Literal["NO_SCHEDULE", "NO_EXECUTE", "PREFER_NO_SCHEDULE"]
    """What happens to pods that do not tolerate it (EKS spelling)."""
