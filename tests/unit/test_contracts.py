"""The contracts follow the project's conventions (ENGINEERING.md), checked from descriptors."""

import json

import pytest
from google.api import annotations_pb2
from google.protobuf.descriptor import FileDescriptor

from services.runtime.channels import retrying_methods, service_config
from services.runtime.topology import CONTRACTS
from shutter.events.v1 import events_pb2

METHODS = [(name, method) for name, service in CONTRACTS.items() for method in service.methods]


@pytest.mark.parametrize(("service", "method"), METHODS, ids=[f"{s}.{m.name}" for s, m in METHODS])
def test_rpc_naming_and_http_annotation(service: str, method) -> None:
    assert method.input_type.name == f"{method.name}Request"
    assert method.output_type.name == f"{method.name}Response"
    rule = method.GetOptions().Extensions[annotations_pb2.http]
    assert rule.WhichOneof("pattern"), f"{method.full_name} has no google.api.http annotation"
    assert method.containing_service.file.package == f"shutter.{service}.v1"


def _files() -> list[FileDescriptor]:
    return [s.file for s in CONTRACTS.values()] + [events_pb2.DESCRIPTOR]


def test_enum_zero_values_are_unspecified() -> None:
    enums = [e for f in _files() for e in f.enum_types_by_name.values()]
    assert enums
    for enum in enums:
        assert enum.values_by_number[0].name.endswith("_UNSPECIFIED"), enum.full_name


def test_list_rpcs_page_with_token() -> None:
    paged = [m for _, m in METHODS if m.name.startswith(("List", "View" + "User", "GetFeed", "Search"))]
    assert len(paged) >= 6
    for method in paged:
        fields = method.input_type.fields_by_name
        assert {"page_size", "page_token"} <= set(fields), method.full_name
        assert "next_page_token" in method.output_type.fields_by_name, method.full_name


def test_retry_policy_covers_exactly_the_safe_methods() -> None:
    photo = CONTRACTS["photo"]
    assert set(retrying_methods(photo)) == {"GetPhoto", "BatchGetPhotos", "DownloadPhoto", "ListUserPhotos"}
    config = json.loads(json.dumps(service_config(photo)))
    names = {n["method"] for n in config["methodConfig"][0]["name"]}
    assert "UploadPhoto" not in names and "DeletePhoto" not in names
    assert config["retryThrottling"]["maxTokens"] > 0


def test_every_event_carries_meta() -> None:
    for message in events_pb2.DESCRIPTOR.message_types_by_name.values():
        if message.name != "EventMeta":
            assert message.fields_by_name["meta"].message_type.name == "EventMeta", message.name
