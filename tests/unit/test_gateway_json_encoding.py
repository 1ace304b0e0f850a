"""The gateway's compiled JSON encoder writes exactly what json_format.MessageToDict writes, for every response."""

from __future__ import annotations

import random
from typing import Any

import pytest
from google.protobuf import descriptor_pb2, descriptor_pool, json_format, message_factory, struct_pb2
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

from gateway.json_encoding import compiled, message_to_dict
from services.runtime.topology import CONTRACTS
from shutter.view.v1 import view_pb2

RESPONSES = sorted({method.output_type for service in CONTRACTS.values() for method in service.methods}, key=str)
INT64 = (0, 1, -1, 2**63 - 1, -(2**63), 9007199254740993)
TEXT = ("", "a", "ünïcødé 📷", '"quoted"\\n', "x" * 300)


def fill(message: Message, rng: random.Random, depth: int = 0) -> Message:
    """Set a random subset of fields to values that stress the JSON mapping (and leave the rest unset)."""
    for field in message.DESCRIPTOR.fields:
        if field.containing_oneof is not None and message.WhichOneof(field.containing_oneof.name):
            continue
        if rng.random() < 0.3:
            continue
        count = rng.choice((0, 1, 3)) if field.is_repeated else 1
        for _ in range(count):
            if field.type == FieldDescriptor.TYPE_MESSAGE:
                if depth > 3:
                    break
                target = getattr(message, field.name).add() if field.is_repeated else getattr(message, field.name)
                if field.message_type.full_name == "google.protobuf.Timestamp":
                    target.seconds = rng.choice((0, 1, -1, 1_700_000_000, 253402300799, -62135596800))
                    target.nanos = rng.choice((0, 1_000_000, 1_000, 1, 999_999_999))
                else:
                    fill(target, rng, depth + 1)
                    if not target.ListFields():
                        target.SetInParent()
                continue
            value = value_for(field, rng)
            if field.is_repeated:
                getattr(message, field.name).append(value)
            else:
                setattr(message, field.name, value)
    return message


def value_for(field: FieldDescriptor, rng: random.Random) -> Any:
    kind = field.type
    if kind in (FieldDescriptor.TYPE_INT64, FieldDescriptor.TYPE_SINT64, FieldDescriptor.TYPE_SFIXED64):
        return rng.choice(INT64)
    if kind in (FieldDescriptor.TYPE_UINT64, FieldDescriptor.TYPE_FIXED64):
        return rng.choice((0, 1, 2**64 - 1))
    if kind in (FieldDescriptor.TYPE_INT32, FieldDescriptor.TYPE_SINT32, FieldDescriptor.TYPE_SFIXED32):
        return rng.choice((0, 1, -1, 2**31 - 1, -(2**31)))
    if kind in (FieldDescriptor.TYPE_UINT32, FieldDescriptor.TYPE_FIXED32):
        return rng.choice((0, 2**32 - 1))
    if kind == FieldDescriptor.TYPE_BOOL:
        return rng.random() < 0.5
    if kind == FieldDescriptor.TYPE_STRING:
        return rng.choice(TEXT)
    if kind == FieldDescriptor.TYPE_BYTES:
        return bytes(rng.randrange(256) for _ in range(rng.choice((0, 1, 5, 64))))
    if kind == FieldDescriptor.TYPE_ENUM:
        return rng.choice([v.number for v in field.enum_type.values] + [77])  # 77: a number no name has
    if kind in (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT):
        return rng.choice((0.0, 1.5, -2.25, float("inf"), float("nan")))
    raise AssertionError(f"no values for {field.full_name}")


@pytest.mark.parametrize("descriptor", RESPONSES, ids=lambda d: d.full_name)
def test_every_response_type_encodes_as_json_format_does(descriptor: Descriptor) -> None:
    assert compiled(descriptor)  # the fast path, not json_format under another name
    message_class = message_factory.GetMessageClass(descriptor)
    rng = random.Random(descriptor.full_name)
    for _ in range(150):
        message = fill(message_class(), rng)
        assert message_to_dict(message) == json_format.MessageToDict(
            message, always_print_fields_with_no_presence=True
        ), message


def test_an_empty_view_keeps_its_defaults_and_leaves_unset_messages_out() -> None:
    assert message_to_dict(view_pb2.ViewPhotoResponse(view=view_pb2.PhotoView())) == {
        "view": {
            "likeCount": "0",
            "viewerHasLiked": False,
            "commentCount": "0",
            "comments": [],
            "commentsNextPageToken": "",
            "unavailableParts": [],
        }
    }


def floaty_class() -> type[Message]:
    """A message with a double and a map, neither of which the compiled encoder takes on."""
    pool = descriptor_pool.DescriptorPool()
    file = descriptor_pb2.FileDescriptorProto(name="floaty.proto", package="test", syntax="proto3")
    message = file.message_type.add(name="Floaty")
    message.field.add(name="ratio", number=1, type=FieldDescriptor.TYPE_DOUBLE, label=FieldDescriptor.LABEL_OPTIONAL)
    pool.Add(file)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("test.Floaty"))


def test_types_it_does_not_cover_are_left_to_json_format() -> None:
    value = struct_pb2.Struct()
    value.update({"a": [1, "b", None]})
    assert not compiled(value.DESCRIPTOR)  # well-known types have JSON of their own
    assert message_to_dict(value) == {"a": [1, "b", None]}
    floaty = floaty_class()(ratio=float("inf"))
    assert not compiled(floaty.DESCRIPTOR)
    assert message_to_dict(floaty) == {"ratio": "Infinity"}


def test_a_recursive_type_encodes_all_the_way_down() -> None:
    pool = descriptor_pool.DescriptorPool()
    file = descriptor_pb2.FileDescriptorProto(name="tree.proto", package="test", syntax="proto3")
    node = file.message_type.add(name="Node")
    node.field.add(name="label", number=1, type=FieldDescriptor.TYPE_STRING, label=FieldDescriptor.LABEL_OPTIONAL)
    node.field.add(
        name="kids",
        number=2,
        type=FieldDescriptor.TYPE_MESSAGE,
        type_name=".test.Node",
        label=FieldDescriptor.LABEL_REPEATED,
    )
    node.field.add(
        name="first",
        number=3,
        type=FieldDescriptor.TYPE_MESSAGE,
        type_name=".test.Node",
        label=FieldDescriptor.LABEL_OPTIONAL,
    )
    pool.Add(file)
    tree = message_factory.GetMessageClass(pool.FindMessageTypeByName("test.Node"))(label="root")
    tree.kids.add(label="a").kids.add(label="a1")
    tree.first.first.label = "deep"
    assert compiled(tree.DESCRIPTOR)
    assert message_to_dict(tree) == json_format.MessageToDict(tree, always_print_fields_with_no_presence=True)
