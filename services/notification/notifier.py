"""The JetStream consumer that turns events into notifications, and tells live watchers.

LikeChanged, CommentChanged, FollowCreated/FollowDeleted, FollowRequested/FollowRequestResolved and the
mentions of PhotoPosted and PhotoEdited add or withdraw one notification each; the events carry the
recipient (the photo's owner, the followee, the account asked, the mentioned users), so nothing here calls
another service but the visibility policy's. No one is notified of their own action. Deleted photos and
users are purged by the runtime's purge consumer (services.runtime.purges), not here.

Mentions: only users who may see the post are notified (services.runtime.visibility `viewers_allowed`,
asked once per event with mentions: a cached lookup, or one batched call to follow): not anyone blocked
either way with the author, nor, when the author's account is private, anyone who is not an approved
follower (a notification would name a post they cannot open). The post is not refused, so the author
learns nothing of a block. A mention is news once per photo and user: its
action is ordered by the photo's id, not the event's (see store.py), so an edit notifies only the users it
newly mentions, and a redelivered post or edit notifies nobody again.

Follow requests: the account asked is notified of a request; any end of it (approved, rejected, withdrawn,
a block) withdraws that notification, and an approval's FollowCreated notifies as every follow does.

Redelivery: a notification is stored once per action and event (see store.py), so a redelivered event
stores nothing and publishes nothing; a publish lost to a crash between the store and the publish is
made up by the watcher's catch-up from the store. The live update is published after the store commits.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from dataclasses import dataclass

from google.protobuf.message import Message

from services.notification.store import Entry, NotificationStore, Type
from services.runtime.ids import IdGenerator, id_timestamp_ms
from services.runtime.live import LiveUpdates
from services.runtime.requests import timestamp_from_unix_ms
from services.runtime.visibility import Visibility
from shutter.events.v1 import events_pb2
from shutter.notification.v1 import notification_pb2

NOTIFY_EVENTS: list[type[Message]] = [
    events_pb2.LikeChanged,
    events_pb2.CommentChanged,
    events_pb2.FollowCreated,
    events_pb2.FollowDeleted,
    events_pb2.FollowRequested,
    events_pb2.FollowRequestResolved,
    events_pb2.PhotoPosted,
    events_pb2.PhotoEdited,
]


def ordering_key(event: Message) -> Hashable:
    """Whose notifications the event changes: one recipient's events are handled one at a time, in order
    (an unlike after its like, the unread count each publishes), other recipients' alongside. A post's
    mentions, and its edits', go together, by photo; a kind not named here is handled one at a time with
    its own kind."""
    if isinstance(event, (events_pb2.LikeChanged, events_pb2.CommentChanged)):
        return event.photo_owner_id
    if isinstance(event, (events_pb2.FollowCreated, events_pb2.FollowDeleted)):
        return event.followee_id
    if isinstance(event, (events_pb2.FollowRequested, events_pb2.FollowRequestResolved)):
        return event.target_id  # the same lane as the follow an approval makes
    if isinstance(event, (events_pb2.PhotoPosted, events_pb2.PhotoEdited)):
        return ("photo", event.photo_id)  # a post, then its edits: each finds the mentions before it done
    return type(event).__name__


def like_key(photo_id: int, user_id: int) -> str:
    return f"like:{photo_id}:{user_id}"


def comment_key(comment_id: int) -> str:
    return f"comment:{comment_id}"


def follow_key(follower_id: int, followee_id: int) -> str:
    return f"follow:{follower_id}:{followee_id}"


def follow_request_key(requester_id: int, target_id: int) -> str:
    return f"follow_request:{requester_id}:{target_id}"


def mention_key(photo_id: int, user_id: int) -> str:
    return f"mention:{photo_id}:{user_id}"


def notification_message(entry: Entry) -> notification_pb2.Notification:
    return notification_pb2.Notification(
        notification_id=entry.notification_id,
        type=int(entry.type),  # type: ignore[arg-type]
        actor_id=entry.actor_id,
        photo_id=entry.photo_id,
        comment_id=entry.comment_id,
        created_at=timestamp_from_unix_ms(id_timestamp_ms(entry.notification_id)),
    )


@dataclass(frozen=True)
class Shown:
    """What a reader is shown: their retained notifications, newest first, less what users blocked either
    way with them did (services.runtime.visibility: the list, the badge and the live stream alike)."""

    entries: list[Entry]
    read_up_to: int

    @property
    def unread(self) -> int:
        return sum(1 for entry in self.entries if entry.notification_id > self.read_up_to)


async def shown(store: NotificationStore, visibility: Visibility, user_id: int, capacity: int) -> Shown:
    entries = await store.recent(user_id, capacity)
    unblocked = await visibility.unblocked(user_id, {entry.actor_id for entry in entries})
    return Shown([entry for entry in entries if entry.actor_id in unblocked], await store.read_position(user_id))


@dataclass(frozen=True)
class Badge:
    """The badge: how many shown notifications came after the read position."""

    count: int
    read_up_to: int


async def unread_badge(store: NotificationStore, visibility: Visibility, user_id: int, capacity: int) -> Badge:
    """`shown(...).unread`, reading only the notifications after the read position: a few, for anyone who reads
    theirs, where the whole retained list (up to `capacity`) was read for every notification added."""
    read_up_to = await store.read_position(user_id)
    entries = await store.recent(user_id, capacity, after=read_up_to)
    unblocked = await visibility.unblocked(user_id, {entry.actor_id for entry in entries})
    return Badge(sum(1 for entry in entries if entry.actor_id in unblocked), read_up_to)


class Notifier:
    """The event handler behind the notification service's durable consumer."""

    def __init__(
        self, store: NotificationStore, live: LiveUpdates, ids: IdGenerator, visibility: Visibility, *, capacity: int
    ) -> None:
        self._store = store
        self._visibility = visibility
        self._live = live
        self._ids = ids
        self._capacity = capacity

    async def handle(self, event: Message) -> None:
        event_id = event.meta.event_id  # type: ignore[attr-defined]
        if isinstance(event, events_pb2.LikeChanged):
            key = like_key(event.photo_id, event.user_id)
            if event.liked:
                await self._add(event.photo_owner_id, Type.LIKE, event.user_id, key, event_id, photo_id=event.photo_id)
            else:
                await self._withdraw(key, event_id)
        elif isinstance(event, events_pb2.CommentChanged):
            key = comment_key(event.comment_id)
            if event.change == events_pb2.COMMENT_CHANGE_CREATED:
                await self._add(
                    event.photo_owner_id,
                    Type.COMMENT,
                    event.user_id,
                    key,
                    event_id,
                    photo_id=event.photo_id,
                    comment_id=event.comment_id,
                )
            elif event.change == events_pb2.COMMENT_CHANGE_DELETED:
                await self._withdraw(key, event_id)
        elif isinstance(event, events_pb2.FollowCreated):
            key = follow_key(event.follower_id, event.followee_id)
            await self._add(event.followee_id, Type.FOLLOW, event.follower_id, key, event_id)
        elif isinstance(event, events_pb2.FollowDeleted):
            await self._withdraw(follow_key(event.follower_id, event.followee_id), event_id)
        elif isinstance(event, events_pb2.FollowRequested):
            key = follow_request_key(event.requester_id, event.target_id)
            await self._add(event.target_id, Type.FOLLOW_REQUESTED, event.requester_id, key, event_id)
        elif isinstance(event, events_pb2.FollowRequestResolved):
            await self._withdraw(follow_request_key(event.requester_id, event.target_id), event_id)
        elif isinstance(event, (events_pb2.PhotoPosted, events_pb2.PhotoEdited)):
            await self._mentions(event.photo_id, event.user_id, event.mentioned_user_ids)

    async def _mentions(self, photo_id: int, author_id: int, mentioned_ids: Iterable[int]) -> None:
        """Notify the users a caption mentions who may see the post, each once per photo: ordered by the photo
        id, the action is done for every later event (see the module doc)."""
        mentioned = [user for user in dict.fromkeys(mentioned_ids) if user != author_id]
        if not mentioned:
            return
        allowed = await self._visibility.viewers_allowed(author_id, mentioned)
        for user in mentioned:
            if user in allowed:
                await self._add(user, Type.MENTION, author_id, mention_key(photo_id, user), photo_id, photo_id=photo_id)

    async def _add(
        self,
        recipient_id: int,
        kind: Type,
        actor_id: int,
        action_key: str,
        order: int,
        *,
        photo_id: int = 0,
        comment_id: int = 0,
    ) -> None:
        """Store and push one notification; `order` is the action's order (store.py): the event's id, or a
        number fixed for an action that is news only once."""
        if recipient_id <= 0 or recipient_id == actor_id:  # unknown owner (an old event), or oneself
            return
        entry = Entry(recipient_id, self._ids.next_id(), kind, actor_id, photo_id, comment_id, action_key)
        if not await self._store.add(entry, order):
            return
        unread = (await unread_badge(self._store, self._visibility, recipient_id, self._capacity)).count
        await self._live.publish(
            recipient_id,
            notification_pb2.WatchNotificationsResponse(
                position=entry.notification_id, notification=notification_message(entry), unread_count=unread
            ),
        )

    async def _withdraw(self, action_key: str, event_id: int) -> None:
        entry = await self._store.withdraw(action_key, event_id)
        if entry is None:
            return
        unread = (await unread_badge(self._store, self._visibility, entry.recipient_id, self._capacity)).count
        await self._live.publish(
            entry.recipient_id,
            notification_pb2.WatchNotificationsResponse(withdrawn_id=entry.notification_id, unread_count=unread),
        )
