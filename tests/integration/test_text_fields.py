"""The one text rule over real gRPC: every user-supplied string field of every service refuses control
characters (NUL, ANSI escapes, …) with INVALID_ARGUMENT naming the field, and nothing is written."""

from __future__ import annotations

import grpc
import pytest
from google.protobuf.field_mask_pb2 import FieldMask

from shutter.comment.v1 import comment_pb2, comment_pb2_grpc
from shutter.photo.v1 import photo_pb2, photo_pb2_grpc
from shutter.search.v1 import search_pb2, search_pb2_grpc
from shutter.user.v1 import user_pb2, user_pb2_grpc
from tests.support.mesh import Mesh
from tests.support.photos import make_jpeg, upload_response
from tests.support.rich_status import field_violations
from tests.support.social import new_photo
from tests.support.users import DEFAULT_PASSWORD, Identity, SignedUp, sign_up, unique_username

HOSTILE = {"ansi": "\x1b[31mred", "nul": "nul\x00byte", "rlo": "photo\u202egpj.exe", "c1": "next\x85line"}
HOSTILE_PARAMS = [pytest.param(value, id=name) for name, value in HOSTILE.items()]


@pytest.fixture(scope="module")
async def reader(mesh: Mesh) -> SignedUp:
    """Someone to read as: they write nothing, so every test of the module may share them."""
    return await sign_up(mesh, sign_in=False)


async def user_photo_ids(mesh: Mesh, user: Identity) -> list[int]:
    reply = await photo_pb2_grpc.PhotoServiceStub(mesh.channel("photo")).ListUserPhotos(
        photo_pb2.ListUserPhotosRequest(user_id=user.user_id), metadata=user.metadata, timeout=10
    )
    return [photo.photo_id for photo in reply.photos]


async def _refused(call: object) -> list[str]:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call  # type: ignore[misc]
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT, caught.value.details()
    return list(field_violations(caught.value))


@pytest.mark.parametrize("value", HOSTILE_PARAMS)
@pytest.mark.parametrize("field", ["title", "location", "tags", "idempotency_key"])
async def test_upload_metadata_text_is_refused_and_nothing_is_stored(mesh: Mesh, field: str, value: str) -> None:
    user = await sign_up(mesh, sign_in=False)
    fields: dict[str, object] = {field: [value] if field == "tags" else value}
    call = upload_response(mesh, user.token, user.user_id, make_jpeg(16, 16), **fields)  # type: ignore[arg-type]
    assert await _refused(call) == [f"metadata.{field}[0]" if field == "tags" else f"metadata.{field}"]
    assert await user_photo_ids(mesh, user) == []


@pytest.mark.parametrize("value", HOSTILE_PARAMS)
@pytest.mark.parametrize("field", ["display_name", "bio"])
async def test_sign_up_text_is_refused_and_no_account_is_made(
    mesh: Mesh, reader: SignedUp, field: str, value: str
) -> None:
    stub = user_pb2_grpc.UserServiceStub(mesh.channel("user"))
    username = unique_username("txt")
    request = user_pb2.CreateUserRequest(username=username, password=DEFAULT_PASSWORD, **{field: value})
    assert await _refused(stub.CreateUser(request, timeout=30)) == [field]
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.GetUserByUsername(
            user_pb2.GetUserByUsernameRequest(username=username), metadata=reader.metadata, timeout=10
        )
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND


@pytest.mark.parametrize("field", ["display_name", "bio"])
async def test_profile_update_text_is_refused_and_the_profile_is_unchanged(mesh: Mesh, field: str) -> None:
    account = await sign_up(mesh, display_name="Before", bio="line one\nline two", sign_in=False)
    stub = user_pb2_grpc.UserServiceStub(mesh.channel("user"))
    request = user_pb2.UpdateUserRequest(
        user_id=account.user_id, update_mask=FieldMask(paths=[field]), **{field: HOSTILE["ansi"]}
    )
    assert await _refused(stub.UpdateUser(request, metadata=account.metadata, timeout=10)) == [field]
    reply = await stub.GetUser(user_pb2.GetUserRequest(user_id=account.user_id), metadata=account.metadata, timeout=10)
    assert (reply.user.display_name, reply.user.bio) == ("Before", "line one\nline two")


@pytest.mark.parametrize("value", HOSTILE_PARAMS)
async def test_comment_text_is_refused_and_nothing_is_posted(mesh: Mesh, value: str) -> None:
    owner = await sign_up(mesh, sign_in=False)
    photo = await new_photo(mesh, owner)
    stub = comment_pb2_grpc.CommentServiceStub(mesh.channel("comment"))
    request = comment_pb2.PostCommentRequest(photo_id=photo.photo_id, user_id=owner.user_id, text=value)
    assert await _refused(stub.PostComment(request, metadata=owner.metadata, timeout=10)) == ["text"]
    listed = await stub.ListComments(
        comment_pb2.ListCommentsRequest(photo_id=photo.photo_id), metadata=owner.metadata, timeout=10
    )
    assert (list(listed.comments), listed.total_size) == ([], 0)


@pytest.mark.parametrize("value", HOSTILE_PARAMS)
@pytest.mark.parametrize("field", ["tag", "text", "location"])
async def test_search_query_text_is_refused(mesh: Mesh, reader: SignedUp, field: str, value: str) -> None:
    stub = search_pb2_grpc.SearchServiceStub(mesh.channel("search"))
    request = search_pb2.SearchPhotosRequest(**{field: value})
    assert await _refused(stub.SearchPhotos(request, metadata=reader.metadata, timeout=10)) == [field]
