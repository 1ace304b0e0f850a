"""Services start and serve while NATS is down, and stay safe.

A mesh of its own: NATS is stopped, services are restarted (and one is started for the first time)
during the outage. They must become SERVING and answer; an upload made during the outage reaches the
search index once NATS is back; the token of an account deleted before the outage is refused by the
restarted service (its deleted-users snapshot) and by the newly started one (no snapshot: it refuses
tokens older than itself until it has read the stream). Logs stay quiet: one WARNING when NATS goes,
one INFO when it is back, no tracebacks.
"""

from __future__ import annotations

import json
from pathlib import Path

import grpc
import pytest

from shutter.comment.v1 import comment_pb2, comment_pb2_grpc
from shutter.like.v1 import like_pb2, like_pb2_grpc
from shutter.user.v1 import user_pb2, user_pb2_grpc
from tests.support.mesh import Mesh, auth
from tests.support.photos import make_jpeg, upload
from tests.support.search import ids, unique_word, until_ids
from tests.support.users import DEFAULT_PASSWORD, SignedUp, refused_as_deleted, sign_up
from tests.support.waiting import eventually

pytestmark = pytest.mark.slow


def _lines(mesh: Mesh, service: str) -> list[dict[str, object]]:
    """The log lines of the service's latest process (a restarted one appends to the same file)."""
    text = (mesh.logs / f"{service}.log").read_text(errors="replace")
    lines = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    starts = [index for index, line in enumerate(lines) if line["msg"] == "listening"]
    return lines[starts[-1] :] if starts else lines


async def _like(mesh: Mesh, who: SignedUp, photo_id: int) -> like_pb2.LikePhotoResponse:
    return await like_pb2_grpc.LikeServiceStub(mesh.channel("like")).LikePhoto(
        like_pb2.LikePhotoRequest(photo_id=photo_id, user_id=who.user_id), metadata=who.metadata, timeout=10
    )


async def _comment(mesh: Mesh, token: str, user_id: int, photo_id: int) -> comment_pb2.PostCommentResponse:
    return await comment_pb2_grpc.CommentServiceStub(mesh.channel("comment")).PostComment(
        comment_pb2.PostCommentRequest(photo_id=photo_id, user_id=user_id, text="during the outage"),
        metadata=auth(token),
        timeout=10,
    )


async def _unauthenticated(call) -> str:  # type: ignore[no-untyped-def]
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await call
    assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED, refused.value.details()
    return refused.value.details() or ""


async def test_services_start_and_serve_during_a_nats_outage_and_stay_safe(tmp_path: Path) -> None:
    mesh = Mesh(tmp_path, services=("user", "photo", "like", "search"))
    try:
        await mesh.start()
        alice = await sign_up(mesh)
        doomed = await sign_up(mesh)
        photo = await upload(mesh, alice.token, alice.user_id, make_jpeg(32, 24), title="before")
        users = user_pb2_grpc.UserServiceStub(mesh.channel("user"))
        await users.DeleteUser(user_pb2.DeleteUserRequest(user_id=doomed.user_id), metadata=doomed.metadata, timeout=10)
        await refused_as_deleted(lambda: _like(mesh, doomed, photo.photo_id))

        mesh.stop_nats()
        # Restarted during the outage: up and answering without NATS.
        await mesh.restart("like")
        await mesh.restart("photo")
        assert (await _like(mesh, alice, photo.photo_id)).created
        assert "deleted" in await _unauthenticated(_like(mesh, doomed, photo.photo_id))

        # Started for the first time during the outage: no snapshot, so tokens older than the process are
        # refused until it has read the stream; a fresh sign-in works at once.
        mesh.start_service("comment")
        await mesh.wait_serving("comment")
        assert "sign in again" in await _unauthenticated(_comment(mesh, alice.token, alice.user_id, photo.photo_id))
        await _unauthenticated(_comment(mesh, doomed.token, doomed.user_id, photo.photo_id))
        again = await users.Authenticate(
            user_pb2.AuthenticateRequest(username=alice.username, password=DEFAULT_PASSWORD), timeout=30
        )
        assert (await _comment(mesh, again.access_token, alice.user_id, photo.photo_id)).comment.comment_id

        # An upload during the outage is acknowledged; its event waits in the outbox.
        word = unique_word()
        during = await upload(mesh, alice.token, alice.user_id, make_jpeg(32, 24), title=word, tags=[word])
        assert await ids(mesh, alice, tag=word) == []

        mesh.start_nats()
        await until_ids(mesh, alice, [during.photo_id], timeout=60, tag=word)
        # Caught up: the old token of a live account is good again, the deleted account's never is.
        await _comment_eventually(mesh, alice, photo.photo_id)
        assert "deleted" in await _unauthenticated(_comment(mesh, doomed.token, doomed.user_id, photo.photo_id))

        # Quiet logs: search lived through the outage; like was started during it. Each reconnects on its own
        # back-off schedule, so wait for its "reachable again" line before reading the rest.
        for service in ("search", "like"):

            async def reconnected(service: str = service) -> bool:
                return any(line["msg"] == "NATS reachable again" for line in _lines(mesh, service))

            await eventually(reconnected, timeout=30, explain=lambda service=service: mesh.log_tail(service))
            lines = _lines(mesh, service)
            assert [line for line in lines if line["level"] in ("error", "critical")] == [], service
            assert [line for line in lines if "exc" in line] == [], service
            went = [line for line in lines if line["msg"].startswith("NATS unreachable")]
            back = [line for line in lines if line["msg"] == "NATS reachable again"]
            assert len(went) == 1 and went[0]["level"] == "warning", (service, went)
            assert len(back) == 1 and back[0]["level"] == "info", (service, back)
    finally:
        await mesh.close()


async def _comment_eventually(mesh: Mesh, who: SignedUp, photo_id: int) -> None:
    async def accepted() -> bool:
        try:
            await _comment(mesh, who.token, who.user_id, photo_id)
            return True
        except grpc.aio.AioRpcError as exc:
            if exc.code() != grpc.StatusCode.UNAUTHENTICATED:
                raise
            return False

    await eventually(accepted, timeout=30, explain=lambda: mesh.log_tail("comment"))
