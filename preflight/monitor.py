"""A mock resource monitor that records every registration the way the engine receives it.

The stock `MockMonitor` rebuilds resource-reference inputs into Resource objects on a
worker thread, which fails now and then ("attached to a different loop", ../shared/NOTES.md)
and loses what a plan needs to show (parent, dependencies, protect, provider). This monitor
reads the wire `Struct` itself: references become the URN they point to, secrets are
unwrapped (their paths remembered), and integral numbers are ints again (the wire only has
floats, and Kubernetes schemas reject `replicas: 2.0`). Aliases are recorded as the URNs the
engine would resolve them to, so a plan shows which existing resource a moved one stays.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

from google.protobuf import json_format, struct_pb2
from pulumi.runtime import rpc
from pulumi.runtime.settings import get_project, get_stack
from pulumi.runtime.mocks import MockMonitor, MockResourceArgs
from pulumi.runtime.proto import resource_pb2
from pulumi.runtime.sync_await import _sync_await

SIG = rpc._special_sig_key
SECRET_SIG = rpc._special_secret_sig
RESOURCE_SIG = rpc._special_resource_sig
UNKNOWN = rpc.UNKNOWN


@dataclass
class Registration:
    """One resource as `pulumi preview` would list it."""

    urn: str
    type: str
    name: str
    parent: str
    custom: bool
    protect: bool
    provider: str
    dependencies: list[str]
    inputs: dict[str, Any]
    secret_paths: list[str] = field(default_factory=list)
    outputs: dict[str, Any] = field(default_factory=dict)
    aliases: list[str] = field(default_factory=list)
    """Earlier URNs of this resource (`aliases=`): an existing stack's resource there is kept."""

    def as_json(self) -> dict[str, Any]:
        data = {
            "urn": self.urn, "type": self.type, "name": self.name, "parent": self.parent,
            "custom": self.custom, "protect": self.protect, "provider": self.provider,
            "dependencies": self.dependencies, "inputs": self.inputs, "secretPaths": self.secret_paths,
            "aliases": self.aliases,
        }
        if self.aliases:
            data["aliases"] = self.aliases
        return data


def plain(value: Any, path: str = "", secrets: Optional[list[str]] = None) -> Any:
    """Wire value (as from MessageToDict) -> plain JSON data; secret paths go to `secrets`."""
    if isinstance(value, dict):
        signature = value.get(SIG)
        if signature == RESOURCE_SIG:
            return value.get("urn", "")
        if signature == SECRET_SIG:
            if secrets is not None:
                secrets.append(path)
            return plain(value.get("value"), path, secrets)
        return {k: plain(v, f"{path}.{k}" if path else k, secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v, f"{path}[{i}]", secrets) for i, v in enumerate(value)]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def struct_to_plain(struct: struct_pb2.Struct, secrets: Optional[list[str]] = None) -> dict[str, Any]:
    return plain(json_format.MessageToDict(struct), "", secrets)


STACK_TYPE = "pulumi:pulumi:Stack"


def engine_urn(stack: str, project: str, parent: str, type_: str, name: str) -> str:
    """The URN the engine gives a resource: its parent's qualified type before its own, unless
    the parent is the stack (the mock monitor's URNs keep the stack's type there)."""
    qualified = parent.split("::")[2] if parent else STACK_TYPE
    qualified = qualified.removeprefix(f"{STACK_TYPE}$")
    if qualified != STACK_TYPE:
        type_ = f"{qualified}${type_}"
    return f"urn:pulumi:{stack}::{project}::{type_}::{name}"


def alias_urns(request: resource_pb2.RegisterResourceRequest) -> list[str]:
    """The request's aliases as URNs, resolved as the engine resolves alias specs: each field the
    spec leaves empty is the resource's own (name, type, stack, project, parent)."""
    urns = list(request.aliasURNs)
    for alias in request.aliases:
        if alias.WhichOneof("alias") == "urn":
            urns.append(alias.urn)
            continue
        spec = alias.spec
        # The SDK sends an empty parentUrn for "the current parent", noParent for "none".
        parent = spec.parentUrn or ("" if spec.noParent else request.parent)
        urns.append(engine_urn(spec.stack or get_stack(), spec.project or get_project(), parent,
                               spec.type or request.type, spec.name or request.name))
    return sorted(set(urns))


def provider_urn(reference: str) -> str:
    # A provider reference is "<urn>::<id>"; the URN is what identifies it in a plan.
    return reference.rsplit("::", 1)[0] if reference else ""


class RecordingMonitor(MockMonitor):
    def __init__(self, mocks):
        super().__init__(mocks)
        self.registrations: list[Registration] = []
        self.stack_outputs: dict[str, Any] = {}
        self.secret_stack_outputs: list[str] = []

    def RegisterResource(self, request):
        urn = self.make_urn(request.parent, request.type, request.name)
        if request.type == "pulumi:pulumi:Stack":
            return resource_pb2.RegisterResourceResponse(urn=urn)

        secret_paths: list[str] = []
        inputs = struct_to_plain(request.object, secret_paths)
        args = MockResourceArgs(
            typ=request.type, name=request.name, inputs=inputs, provider=request.provider,
            resource_id=request.importId, custom=request.custom or False,
        )
        id_, state = self.mocks.new_resource(args)
        self.registrations.append(Registration(
            urn=urn, type=request.type, name=request.name, parent=request.parent,
            custom=bool(request.custom),
            protect=request.protect if request.HasField("protect") else False,
            provider=provider_urn(request.provider),
            dependencies=sorted(set(request.dependencies)),
            inputs=inputs, secret_paths=secret_paths, outputs=state, aliases=alias_urns(request),
        ))
        self.resources[urn] = MockMonitor.ResourceRegistration(urn, id_, state)
        obj_proto = _sync_await(rpc.serialize_properties(state, {}))
        return resource_pb2.RegisterResourceResponse(urn=urn, id=id_, object=obj_proto)

    def RegisterResourceOutputs(self, request):
        if request.urn.split("::")[-2:-1] == ["pulumi:pulumi:Stack"] or "::pulumi:pulumi:Stack::" in request.urn:
            secrets: list[str] = []
            self.stack_outputs = struct_to_plain(request.outputs, secrets)
            self.secret_stack_outputs = sorted({path.split(".")[0].split("[")[0] for path in secrets})
        return super().RegisterResourceOutputs(request)
