import datetime

from google.api import annotations_pb2 as _annotations_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class NotificationType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    NOTIFICATION_TYPE_UNSPECIFIED: _ClassVar[NotificationType]
    NOTIFICATION_TYPE_LIKE: _ClassVar[NotificationType]
    NOTIFICATION_TYPE_COMMENT: _ClassVar[NotificationType]
    NOTIFICATION_TYPE_FOLLOW: _ClassVar[NotificationType]
    NOTIFICATION_TYPE_MENTION: _ClassVar[NotificationType]
    NOTIFICATION_TYPE_FOLLOW_REQUESTED: _ClassVar[NotificationType]
NOTIFICATION_TYPE_UNSPECIFIED: NotificationType
NOTIFICATION_TYPE_LIKE: NotificationType
NOTIFICATION_TYPE_COMMENT: NotificationType
NOTIFICATION_TYPE_FOLLOW: NotificationType
NOTIFICATION_TYPE_MENTION: NotificationType
NOTIFICATION_TYPE_FOLLOW_REQUESTED: NotificationType

class Notification(_message.Message):
    __slots__ = ("notification_id", "type", "actor_id", "photo_id", "comment_id", "created_at")
    NOTIFICATION_ID_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    ACTOR_ID_FIELD_NUMBER: _ClassVar[int]
    PHOTO_ID_FIELD_NUMBER: _ClassVar[int]
    COMMENT_ID_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    notification_id: int
    type: NotificationType
    actor_id: int
    photo_id: int
    comment_id: int
    created_at: _timestamp_pb2.Timestamp
    def __init__(self, notification_id: _Optional[int] = ..., type: _Optional[_Union[NotificationType, str]] = ..., actor_id: _Optional[int] = ..., photo_id: _Optional[int] = ..., comment_id: _Optional[int] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class NotificationGroup(_message.Message):
    __slots__ = ("group_key", "type", "position", "notifications_count", "latest_actor_ids", "photo_id", "comment_id", "latest_at", "unread")
    GROUP_KEY_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    POSITION_FIELD_NUMBER: _ClassVar[int]
    NOTIFICATIONS_COUNT_FIELD_NUMBER: _ClassVar[int]
    LATEST_ACTOR_IDS_FIELD_NUMBER: _ClassVar[int]
    PHOTO_ID_FIELD_NUMBER: _ClassVar[int]
    COMMENT_ID_FIELD_NUMBER: _ClassVar[int]
    LATEST_AT_FIELD_NUMBER: _ClassVar[int]
    UNREAD_FIELD_NUMBER: _ClassVar[int]
    group_key: str
    type: NotificationType
    position: int
    notifications_count: int
    latest_actor_ids: _containers.RepeatedScalarFieldContainer[int]
    photo_id: int
    comment_id: int
    latest_at: _timestamp_pb2.Timestamp
    unread: bool
    def __init__(self, group_key: _Optional[str] = ..., type: _Optional[_Union[NotificationType, str]] = ..., position: _Optional[int] = ..., notifications_count: _Optional[int] = ..., latest_actor_ids: _Optional[_Iterable[int]] = ..., photo_id: _Optional[int] = ..., comment_id: _Optional[int] = ..., latest_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., unread: _Optional[bool] = ...) -> None: ...

class ListNotificationsRequest(_message.Message):
    __slots__ = ("user_id", "page_size", "page_token", "types")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    TYPES_FIELD_NUMBER: _ClassVar[int]
    user_id: int
    page_size: int
    page_token: str
    types: _containers.RepeatedScalarFieldContainer[NotificationType]
    def __init__(self, user_id: _Optional[int] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., types: _Optional[_Iterable[_Union[NotificationType, str]]] = ...) -> None: ...

class ListNotificationsResponse(_message.Message):
    __slots__ = ("groups", "next_page_token", "unread_count")
    GROUPS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    UNREAD_COUNT_FIELD_NUMBER: _ClassVar[int]
    groups: _containers.RepeatedCompositeFieldContainer[NotificationGroup]
    next_page_token: str
    unread_count: int
    def __init__(self, groups: _Optional[_Iterable[_Union[NotificationGroup, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., unread_count: _Optional[int] = ...) -> None: ...

class GetUnreadCountRequest(_message.Message):
    __slots__ = ("user_id",)
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    user_id: int
    def __init__(self, user_id: _Optional[int] = ...) -> None: ...

class GetUnreadCountResponse(_message.Message):
    __slots__ = ("unread_count", "read_up_to")
    UNREAD_COUNT_FIELD_NUMBER: _ClassVar[int]
    READ_UP_TO_FIELD_NUMBER: _ClassVar[int]
    unread_count: int
    read_up_to: int
    def __init__(self, unread_count: _Optional[int] = ..., read_up_to: _Optional[int] = ...) -> None: ...

class MarkNotificationsReadRequest(_message.Message):
    __slots__ = ("user_id", "up_to_position")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    UP_TO_POSITION_FIELD_NUMBER: _ClassVar[int]
    user_id: int
    up_to_position: int
    def __init__(self, user_id: _Optional[int] = ..., up_to_position: _Optional[int] = ...) -> None: ...

class MarkNotificationsReadResponse(_message.Message):
    __slots__ = ("unread_count", "read_up_to")
    UNREAD_COUNT_FIELD_NUMBER: _ClassVar[int]
    READ_UP_TO_FIELD_NUMBER: _ClassVar[int]
    unread_count: int
    read_up_to: int
    def __init__(self, unread_count: _Optional[int] = ..., read_up_to: _Optional[int] = ...) -> None: ...

class WatchNotificationsRequest(_message.Message):
    __slots__ = ("user_id", "after_position")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    AFTER_POSITION_FIELD_NUMBER: _ClassVar[int]
    user_id: int
    after_position: int
    def __init__(self, user_id: _Optional[int] = ..., after_position: _Optional[int] = ...) -> None: ...

class WatchNotificationsResponse(_message.Message):
    __slots__ = ("position", "notification", "withdrawn_id", "unread_count", "resync")
    POSITION_FIELD_NUMBER: _ClassVar[int]
    NOTIFICATION_FIELD_NUMBER: _ClassVar[int]
    WITHDRAWN_ID_FIELD_NUMBER: _ClassVar[int]
    UNREAD_COUNT_FIELD_NUMBER: _ClassVar[int]
    RESYNC_FIELD_NUMBER: _ClassVar[int]
    position: int
    notification: Notification
    withdrawn_id: int
    unread_count: int
    resync: bool
    def __init__(self, position: _Optional[int] = ..., notification: _Optional[_Union[Notification, _Mapping]] = ..., withdrawn_id: _Optional[int] = ..., unread_count: _Optional[int] = ..., resync: _Optional[bool] = ...) -> None: ...
