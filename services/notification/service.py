"""NotificationService: a user's notifications grouped, the unread count, marking read, and watching live."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime

import grpc

from services.notification.notifier import (
    NOTIFY_EVENTS,
    Notifier,
    notification_message,
    ordering_key,
    shown,
    unread_badge,
)
from services.notification.settings import NotificationSettings
from services.notification.store import STORAGE, Entry, NotificationStore, Type
from services.runtime.callctx import acting_as
from services.runtime.channels import SERVICE
from services.runtime.errors import InvalidArgument
from services.runtime.ids import id_timestamp_ms
from services.runtime.live import LiveUpdates, watch_stream
from services.runtime.purges import purge_on_deletion
from services.runtime.requests import CursorField, PageTokens, page_size, timestamp_from_unix_ms
from services.runtime.server import Runtime
from services.runtime.stores import open_store
from services.runtime.visibility import Visibility
from shutter.follow.v1 import follow_pb2_grpc
from shutter.notification.v1 import notification_pb2, notification_pb2_grpc

DURABLE = "notification-notifier"
# Actors shown with a group ("ada, bob and 12 others").
GROUP_ACTORS = 3


def group_key(entry: Entry) -> str:
    """Likes group per photo and follows per (UTC) day, as Instagram and Mastodon do; a comment or a
    mention says something of its own, and a follow request is answered on its own: each stands alone."""
    if entry.type is Type.LIKE:
        return f"like:{entry.photo_id}"
    if entry.type is Type.FOLLOW:
        day = datetime.fromtimestamp(id_timestamp_ms(entry.notification_id) / 1000, UTC).date()
        return f"follow:{day.isoformat()}"
    return f"{entry.type.name.lower()}:{entry.notification_id}"


def grouped(entries: Sequence[Entry], read_up_to: int) -> list[notification_pb2.NotificationGroup]:
    """Groups of `entries` (newest first), ordered by their newest notification, newest first."""
    groups: dict[str, notification_pb2.NotificationGroup] = {}
    for entry in entries:
        key = group_key(entry)
        group = groups.get(key)
        if group is None:
            group = groups[key] = notification_pb2.NotificationGroup(
                group_key=key,
                type=int(entry.type),  # type: ignore[arg-type]
                position=entry.notification_id,
                photo_id=entry.photo_id,
                comment_id=entry.comment_id,
                latest_at=timestamp_from_unix_ms(id_timestamp_ms(entry.notification_id)),
                unread=entry.notification_id > read_up_to,
            )
        group.notifications_count += 1
        if len(group.latest_actor_ids) < GROUP_ACTORS and entry.actor_id not in group.latest_actor_ids:
            group.latest_actor_ids.append(entry.actor_id)
    return list(groups.values())  # dicts keep insertion order: each group first seen at its newest entry


class NotificationService(notification_pb2_grpc.NotificationServiceServicer):
    def __init__(
        self,
        store: NotificationStore,
        live: LiveUpdates,
        pages: PageTokens,
        *,
        capacity: int,
        visibility: Visibility,
    ) -> None:
        self._store = store
        self._visibility = visibility
        self._live = live
        self._pages = pages
        self._capacity = capacity

    async def ListNotifications(
        self, request: notification_pb2.ListNotificationsRequest, context: grpc.aio.ServicerContext
    ) -> notification_pb2.ListNotificationsResponse:
        user_id = acting_as(request.user_id, "user_id")
        size = page_size(request.page_size)
        known = set(Type)
        if any(kind not in known for kind in request.types):
            raise InvalidArgument("types", "must be known notification types")
        position = self._pages.decode(request, {"before": CursorField.ID})
        before = None if position is None else position["before"]
        # The whole retained list (at most `capacity` rows): groups span pages, so they are made from all of it.
        reader = await shown(self._store, self._visibility, user_id, self._capacity)
        wanted = set(request.types)
        groups = grouped([e for e in reader.entries if not wanted or e.type in wanted], reader.read_up_to)
        if before is not None:
            groups = [group for group in groups if group.position < before]
        page, more = groups[:size], len(groups) > size
        return notification_pb2.ListNotificationsResponse(
            groups=page,
            next_page_token=self._pages.encode(request, {"before": page[-1].position}) if more else "",
            unread_count=reader.unread,
        )

    async def GetUnreadCount(
        self, request: notification_pb2.GetUnreadCountRequest, context: grpc.aio.ServicerContext
    ) -> notification_pb2.GetUnreadCountResponse:
        user_id = acting_as(request.user_id, "user_id")
        badge = await unread_badge(self._store, self._visibility, user_id, self._capacity)
        return notification_pb2.GetUnreadCountResponse(unread_count=badge.count, read_up_to=badge.read_up_to)

    async def MarkNotificationsRead(
        self, request: notification_pb2.MarkNotificationsReadRequest, context: grpc.aio.ServicerContext
    ) -> notification_pb2.MarkNotificationsReadResponse:
        user_id = acting_as(request.user_id, "user_id")
        if request.up_to_position < 0:
            raise InvalidArgument("up_to_position", "must be a position, or 0 for everything so far")
        up_to = request.up_to_position
        if up_to == 0:
            newest = await self._store.recent(user_id, 1)
            up_to = newest[0].notification_id if newest else 0
        read_up_to = await self._store.mark_read(user_id, up_to) if up_to else await self._store.read_position(user_id)
        count = (await unread_badge(self._store, self._visibility, user_id, self._capacity)).count
        # The user's other screens update their badge too.
        await self._live.publish(user_id, notification_pb2.WatchNotificationsResponse(unread_count=count))
        return notification_pb2.MarkNotificationsReadResponse(unread_count=count, read_up_to=read_up_to)

    async def WatchNotifications(
        self, request: notification_pb2.WatchNotificationsRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[notification_pb2.WatchNotificationsResponse]:
        """The unread count first, then what came after `after_position`, then live updates; after a
        resync marker, again what came after the last position sent. Ends when the caller's token expires."""
        user_id = acting_as(request.user_id, "user_id")

        async def newest() -> int:
            entries = await self._store.recent(user_id, 1)
            return entries[0].notification_id if entries else 0

        async for update in watch_stream(
            self._live,
            user_id,
            request.after_position,
            context,
            newest=newest,
            catch_up=lambda position, resync: self._catch_up(user_id, position, resync),
            parse=notification_pb2.WatchNotificationsResponse.FromString,
        ):
            yield update

    async def _catch_up(
        self, user_id: int, after: int, resync: bool
    ) -> list[notification_pb2.WatchNotificationsResponse]:
        """What came after `after`, oldest first, each with the unread count; then the count on its own
        (flagged after a resync, so a client showing the list re-reads it: withdrawals are not replayed)."""
        reader = await shown(self._store, self._visibility, user_id, self._capacity)
        unread = reader.unread
        updates = [
            notification_pb2.WatchNotificationsResponse(
                position=entry.notification_id, notification=notification_message(entry), unread_count=unread
            )
            for entry in reversed(reader.entries)
            if entry.notification_id > after
        ]
        updates.append(notification_pb2.WatchNotificationsResponse(unread_count=unread, resync=resync))
        return updates


def build(runtime: Runtime) -> None:
    settings = runtime.section(NotificationSettings)
    store: NotificationStore = open_store(runtime, STORAGE, capacity=settings.capacity)
    live = runtime.live("notifications")
    visibility = Visibility.attach(
        runtime, runtime.channels.stub("follow", follow_pb2_grpc.FollowServiceStub, as_=SERVICE)
    )
    notifier = Notifier(store, live, runtime.ids, visibility, capacity=settings.capacity)
    runtime.consume(
        DURABLE,
        NOTIFY_EVENTS,
        notifier.handle,
        max_deliver=settings.max_deliver,
        concurrency=settings.concurrency,
        ordering_key=ordering_key,
    )
    purge_on_deletion(runtime, "notification-purge", store, "notifications")
    pages = PageTokens(runtime.settings.signing_secret())
    runtime.add_servicer(
        notification_pb2_grpc.add_NotificationServiceServicer_to_server,
        NotificationService(store, live, pages, capacity=settings.capacity, visibility=visibility),
        notification_pb2.DESCRIPTOR.services_by_name["NotificationService"],
    )
