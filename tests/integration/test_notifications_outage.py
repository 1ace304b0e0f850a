"""A live notification watcher lives through a NATS restart and catches up (a mesh of its own).

The watcher's stream is a gRPC call to the notification service: NATS going away does not end it. A
like made during the outage waits in the like service's outbox; when NATS is back, the watcher gets a
resync marker (its process reconnected: live updates may have been missed) and the like's notification,
live or from the store.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from shutter.like.v1 import like_pb2, like_pb2_grpc
from shutter.notification.v1 import notification_pb2 as pb
from tests.support.mesh import Mesh
from tests.support.notifications import watching
from tests.support.social import new_photo
from tests.support.users import sign_up

pytestmark = pytest.mark.slow


async def test_a_watcher_survives_a_nats_restart_and_catches_up(tmp_path: Path) -> None:
    mesh = Mesh(tmp_path, services=("user", "photo", "like", "notification", "follow"))
    try:
        await mesh.start()
        owner, fan = await sign_up(mesh), await sign_up(mesh)
        photo = await new_photo(mesh, owner)
        async with watching(mesh, owner) as watch:
            mesh.stop_nats()
            await like_pb2_grpc.LikeServiceStub(mesh.channel("like")).LikePhoto(
                like_pb2.LikePhotoRequest(photo_id=photo.photo_id), metadata=fan.metadata, timeout=10
            )
            mesh.start_nats()
            await watch.next(lambda update: update.resync, timeout=60)
            watch._seen = 0  # the notification may come before the marker (live) or after it (caught up)
            update = await watch.next(lambda update: update.notification.type == pb.NOTIFICATION_TYPE_LIKE, timeout=60)
            assert update.notification.actor_id == fan.user_id
            assert watch.error is None
    finally:
        await mesh.close()
