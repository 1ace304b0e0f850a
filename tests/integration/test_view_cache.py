"""The view's photo cache keeps the promise: a deleted photo is not served after its delete is acknowledged + 1 s.

With events flowing, PhotoDeleted drops it at once; with NATS down, the cache's one-second expiry
still does. Either way every view after ack + 1 s is NOT_FOUND.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import grpc

from shutter.photo.v1 import photo_pb2, photo_pb2_grpc
from shutter.view.v1 import view_pb2, view_pb2_grpc
from tests.support.mesh import Mesh
from tests.support.social import new_photo, rpc_lines
from tests.support.users import Identity, sign_up_many, user_without_account

PROMISE_SECONDS = 1.0
WATCH_SECONDS = 2.5


async def served_after_delete(mesh: Mesh, owner: Identity, viewer: Identity) -> tuple[list[float], list[float]]:
    """Warm the view's cache with a photo, delete it, then view it back to back for WATCH_SECONDS.

    Returns how long after the delete's acknowledgement each view was answered with the photo, and
    each NOT_FOUND was.
    """
    photo = await new_photo(mesh, owner)
    views = view_pb2_grpc.ViewServiceStub(mesh.channel("view"))
    as_viewer = viewer.metadata
    request = view_pb2.ViewPhotoRequest(photo_id=photo.photo_id)
    warm = [uuid.uuid4().hex for _ in range(2)]
    for request_id in warm:
        reply = await views.ViewPhoto(request, metadata=(*as_viewer, ("x-request-id", request_id)), timeout=10)
        assert reply.view.photo == photo
    # The first view fetched the photo, the second was answered from the cache: it is in play.
    assert [len(rpc_lines(mesh, "photo", request_id)) for request_id in warm] == [1, 0]
    await photo_pb2_grpc.PhotoServiceStub(mesh.channel("photo")).DeletePhoto(
        photo_pb2.DeletePhotoRequest(photo_id=photo.photo_id), metadata=owner.metadata, timeout=10
    )
    acknowledged = time.monotonic()
    served: list[float] = []
    gone: list[float] = []
    while (elapsed := time.monotonic() - acknowledged) < WATCH_SECONDS:
        try:
            await views.ViewPhoto(request, metadata=as_viewer, timeout=10)
            served.append(elapsed)
        except grpc.aio.AioRpcError as exc:
            assert exc.code() == grpc.StatusCode.NOT_FOUND, exc
            gone.append(elapsed)
    return served, gone


async def test_a_deleted_photo_is_gone_from_views_within_a_second_of_the_acknowledgement(mesh: Mesh) -> None:
    owner, viewer = await sign_up_many(mesh, 2)
    served, gone = await served_after_delete(mesh, owner, viewer)
    assert gone, "every view after the delete still showed the photo"
    assert all(at < PROMISE_SECONDS for at in served), served
    assert all(at < min(gone) for at in served)  # once gone, never back


async def test_with_nats_down_the_cache_still_forgets_a_deleted_photo_within_a_second(tmp_path: Path) -> None:
    mesh = Mesh(tmp_path, services=("photo", "like", "comment", "view", "follow"))
    try:
        await mesh.start()
        owner, viewer = user_without_account(mesh), user_without_account(mesh)  # no user service here
        await new_photo(mesh, owner)  # the view's channels and the photo's outbox are warm
        mesh.stop_nats()  # no PhotoDeleted can reach the view now: only the cache's expiry is left
        served, gone = await served_after_delete(mesh, owner, viewer)
    finally:
        await mesh.close()
    assert gone, "every view after the delete still showed the photo"
    assert all(at < PROMISE_SECONDS for at in served), served
    assert all(at < min(gone) for at in served)


async def test_a_page_listed_for_one_viewer_answers_others_and_a_new_post_shows_within_a_second(mesh: Mesh) -> None:
    """Pages of a user's photos are shared by every viewer the policy lets see them, for at most a second: the
    owner sees their new post at once, everyone else within the second (PhotoPosted drops the page sooner)."""
    owner, first, second = await sign_up_many(mesh, 3)
    await new_photo(mesh, owner)
    views = view_pb2_grpc.ViewServiceStub(mesh.channel("view"))

    async def page(viewer: Identity, request_id: str = "") -> list[int]:
        metadata = (*viewer.metadata, ("x-request-id", request_id or uuid.uuid4().hex))
        reply = await views.ViewUserPhotos(
            view_pb2.ViewUserPhotosRequest(user_id=owner.user_id, page_size=12), metadata=metadata, timeout=10
        )
        return [v.photo.photo_id for v in reply.views]

    asked = [uuid.uuid4().hex for _ in range(2)]
    assert await page(first, asked[0]) == await page(second, asked[1])
    assert [len(rpc_lines(mesh, "photo", request_id)) for request_id in asked] == [1, 0]  # listed once, for both

    posted = await new_photo(mesh, owner)
    acknowledged = time.monotonic()
    assert (await page(owner))[0] == posted.photo_id  # the owner's own page is never an old one
    while (elapsed := time.monotonic() - acknowledged) < WATCH_SECONDS:
        if posted.photo_id in await page(first):
            break
    assert elapsed < PROMISE_SECONDS, f"the new post showed to others only after {elapsed:.2f} s"
