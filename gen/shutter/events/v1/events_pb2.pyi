import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class CommentChange(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    COMMENT_CHANGE_UNSPECIFIED: _ClassVar[CommentChange]
    COMMENT_CHANGE_CREATED: _ClassVar[CommentChange]
    COMMENT_CHANGE_DELETED: _ClassVar[CommentChange]

class FollowRequestOutcome(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    FOLLOW_REQUEST_OUTCOME_UNSPECIFIED: _ClassVar[FollowRequestOutcome]
    FOLLOW_REQUEST_OUTCOME_APPROVED: _ClassVar[FollowRequestOutcome]
    FOLLOW_REQUEST_OUTCOME_REJECTED: _ClassVar[FollowRequestOutcome]
    FOLLOW_REQUEST_OUTCOME_WITHDRAWN: _ClassVar[FollowRequestOutcome]
    FOLLOW_REQUEST_OUTCOME_BLOCKED: _ClassVar[FollowRequestOutcome]
COMMENT_CHANGE_UNSPECIFIED: CommentChange
COMMENT_CHANGE_CREATED: CommentChange
COMMENT_CHANGE_DELETED: CommentChange
FOLLOW_REQUEST_OUTCOME_UNSPECIFIED: FollowRequestOutcome
FOLLOW_REQUEST_OUTCOME_APPROVED: FollowRequestOutcome
FOLLOW_REQUEST_OUTCOME_REJECTED: FollowRequestOutcome
FOLLOW_REQUEST_OUTCOME_WITHDRAWN: FollowRequestOutcome
FOLLOW_REQUEST_OUTCOME_BLOCKED: FollowRequestOutcome

class EventMeta(_message.Message):
    __slots__ = ("event_id", "occurred_at", "source")
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    OCCURRED_AT_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    event_id: int
    occurred_at: _timestamp_pb2.Timestamp
    source: str
    def __init__(self, event_id: _Optional[int] = ..., occurred_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., source: _Optional[str] = ...) -> None: ...

class PhotoPosted(_message.Message):
    __slots__ = ("meta", "photo_id", "user_id", "title", "location", "tags", "time_stamp", "created_at", "mentioned_user_ids", "caption")
    META_FIELD_NUMBER: _ClassVar[int]
    PHOTO_ID_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    LOCATION_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    TIME_STAMP_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    MENTIONED_USER_IDS_FIELD_NUMBER: _ClassVar[int]
    CAPTION_FIELD_NUMBER: _ClassVar[int]
    meta: EventMeta
    photo_id: int
    user_id: int
    title: str
    location: str
    tags: _containers.RepeatedScalarFieldContainer[str]
    time_stamp: _timestamp_pb2.Timestamp
    created_at: _timestamp_pb2.Timestamp
    mentioned_user_ids: _containers.RepeatedScalarFieldContainer[int]
    caption: str
    def __init__(self, meta: _Optional[_Union[EventMeta, _Mapping]] = ..., photo_id: _Optional[int] = ..., user_id: _Optional[int] = ..., title: _Optional[str] = ..., location: _Optional[str] = ..., tags: _Optional[_Iterable[str]] = ..., time_stamp: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., mentioned_user_ids: _Optional[_Iterable[int]] = ..., caption: _Optional[str] = ...) -> None: ...

class PhotoEdited(_message.Message):
    __slots__ = ("meta", "photo_id", "user_id", "title", "location", "tags", "caption", "mentioned_user_ids", "created_at", "edited_at")
    META_FIELD_NUMBER: _ClassVar[int]
    PHOTO_ID_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    LOCATION_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    CAPTION_FIELD_NUMBER: _ClassVar[int]
    MENTIONED_USER_IDS_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    EDITED_AT_FIELD_NUMBER: _ClassVar[int]
    meta: EventMeta
    photo_id: int
    user_id: int
    title: str
    location: str
    tags: _containers.RepeatedScalarFieldContainer[str]
    caption: str
    mentioned_user_ids: _containers.RepeatedScalarFieldContainer[int]
    created_at: _timestamp_pb2.Timestamp
    edited_at: _timestamp_pb2.Timestamp
    def __init__(self, meta: _Optional[_Union[EventMeta, _Mapping]] = ..., photo_id: _Optional[int] = ..., user_id: _Optional[int] = ..., title: _Optional[str] = ..., location: _Optional[str] = ..., tags: _Optional[_Iterable[str]] = ..., caption: _Optional[str] = ..., mentioned_user_ids: _Optional[_Iterable[int]] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., edited_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class PhotoDeleted(_message.Message):
    __slots__ = ("meta", "photo_id", "user_id")
    META_FIELD_NUMBER: _ClassVar[int]
    PHOTO_ID_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    meta: EventMeta
    photo_id: int
    user_id: int
    def __init__(self, meta: _Optional[_Union[EventMeta, _Mapping]] = ..., photo_id: _Optional[int] = ..., user_id: _Optional[int] = ...) -> None: ...

class FollowCreated(_message.Message):
    __slots__ = ("meta", "follower_id", "followee_id", "time_stamp")
    META_FIELD_NUMBER: _ClassVar[int]
    FOLLOWER_ID_FIELD_NUMBER: _ClassVar[int]
    FOLLOWEE_ID_FIELD_NUMBER: _ClassVar[int]
    TIME_STAMP_FIELD_NUMBER: _ClassVar[int]
    meta: EventMeta
    follower_id: int
    followee_id: int
    time_stamp: _timestamp_pb2.Timestamp
    def __init__(self, meta: _Optional[_Union[EventMeta, _Mapping]] = ..., follower_id: _Optional[int] = ..., followee_id: _Optional[int] = ..., time_stamp: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class FollowDeleted(_message.Message):
    __slots__ = ("meta", "follower_id", "followee_id", "time_stamp")
    META_FIELD_NUMBER: _ClassVar[int]
    FOLLOWER_ID_FIELD_NUMBER: _ClassVar[int]
    FOLLOWEE_ID_FIELD_NUMBER: _ClassVar[int]
    TIME_STAMP_FIELD_NUMBER: _ClassVar[int]
    meta: EventMeta
    follower_id: int
    followee_id: int
    time_stamp: _timestamp_pb2.Timestamp
    def __init__(self, meta: _Optional[_Union[EventMeta, _Mapping]] = ..., follower_id: _Optional[int] = ..., followee_id: _Optional[int] = ..., time_stamp: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class LikeChanged(_message.Message):
    __slots__ = ("meta", "photo_id", "user_id", "liked", "photo_owner_id")
    META_FIELD_NUMBER: _ClassVar[int]
    PHOTO_ID_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    LIKED_FIELD_NUMBER: _ClassVar[int]
    PHOTO_OWNER_ID_FIELD_NUMBER: _ClassVar[int]
    meta: EventMeta
    photo_id: int
    user_id: int
    liked: bool
    photo_owner_id: int
    def __init__(self, meta: _Optional[_Union[EventMeta, _Mapping]] = ..., photo_id: _Optional[int] = ..., user_id: _Optional[int] = ..., liked: _Optional[bool] = ..., photo_owner_id: _Optional[int] = ...) -> None: ...

class CommentChanged(_message.Message):
    __slots__ = ("meta", "photo_id", "comment_id", "user_id", "change", "photo_owner_id")
    META_FIELD_NUMBER: _ClassVar[int]
    PHOTO_ID_FIELD_NUMBER: _ClassVar[int]
    COMMENT_ID_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    CHANGE_FIELD_NUMBER: _ClassVar[int]
    PHOTO_OWNER_ID_FIELD_NUMBER: _ClassVar[int]
    meta: EventMeta
    photo_id: int
    comment_id: int
    user_id: int
    change: CommentChange
    photo_owner_id: int
    def __init__(self, meta: _Optional[_Union[EventMeta, _Mapping]] = ..., photo_id: _Optional[int] = ..., comment_id: _Optional[int] = ..., user_id: _Optional[int] = ..., change: _Optional[_Union[CommentChange, str]] = ..., photo_owner_id: _Optional[int] = ...) -> None: ...

class UserDeleted(_message.Message):
    __slots__ = ("meta", "user_id")
    META_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    meta: EventMeta
    user_id: int
    def __init__(self, meta: _Optional[_Union[EventMeta, _Mapping]] = ..., user_id: _Optional[int] = ...) -> None: ...

class FollowRequested(_message.Message):
    __slots__ = ("meta", "requester_id", "target_id", "time_stamp")
    META_FIELD_NUMBER: _ClassVar[int]
    REQUESTER_ID_FIELD_NUMBER: _ClassVar[int]
    TARGET_ID_FIELD_NUMBER: _ClassVar[int]
    TIME_STAMP_FIELD_NUMBER: _ClassVar[int]
    meta: EventMeta
    requester_id: int
    target_id: int
    time_stamp: _timestamp_pb2.Timestamp
    def __init__(self, meta: _Optional[_Union[EventMeta, _Mapping]] = ..., requester_id: _Optional[int] = ..., target_id: _Optional[int] = ..., time_stamp: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class FollowRequestResolved(_message.Message):
    __slots__ = ("meta", "requester_id", "target_id", "outcome")
    META_FIELD_NUMBER: _ClassVar[int]
    REQUESTER_ID_FIELD_NUMBER: _ClassVar[int]
    TARGET_ID_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    meta: EventMeta
    requester_id: int
    target_id: int
    outcome: FollowRequestOutcome
    def __init__(self, meta: _Optional[_Union[EventMeta, _Mapping]] = ..., requester_id: _Optional[int] = ..., target_id: _Optional[int] = ..., outcome: _Optional[_Union[FollowRequestOutcome, str]] = ...) -> None: ...

class BlockCreated(_message.Message):
    __slots__ = ("meta", "blocker_id", "blocked_id")
    META_FIELD_NUMBER: _ClassVar[int]
    BLOCKER_ID_FIELD_NUMBER: _ClassVar[int]
    BLOCKED_ID_FIELD_NUMBER: _ClassVar[int]
    meta: EventMeta
    blocker_id: int
    blocked_id: int
    def __init__(self, meta: _Optional[_Union[EventMeta, _Mapping]] = ..., blocker_id: _Optional[int] = ..., blocked_id: _Optional[int] = ...) -> None: ...

class BlockDeleted(_message.Message):
    __slots__ = ("meta", "blocker_id", "blocked_id")
    META_FIELD_NUMBER: _ClassVar[int]
    BLOCKER_ID_FIELD_NUMBER: _ClassVar[int]
    BLOCKED_ID_FIELD_NUMBER: _ClassVar[int]
    meta: EventMeta
    blocker_id: int
    blocked_id: int
    def __init__(self, meta: _Optional[_Union[EventMeta, _Mapping]] = ..., blocker_id: _Optional[int] = ..., blocked_id: _Optional[int] = ...) -> None: ...

class MuteCreated(_message.Message):
    __slots__ = ("meta", "muter_id", "muted_id")
    META_FIELD_NUMBER: _ClassVar[int]
    MUTER_ID_FIELD_NUMBER: _ClassVar[int]
    MUTED_ID_FIELD_NUMBER: _ClassVar[int]
    meta: EventMeta
    muter_id: int
    muted_id: int
    def __init__(self, meta: _Optional[_Union[EventMeta, _Mapping]] = ..., muter_id: _Optional[int] = ..., muted_id: _Optional[int] = ...) -> None: ...

class MuteDeleted(_message.Message):
    __slots__ = ("meta", "muter_id", "muted_id")
    META_FIELD_NUMBER: _ClassVar[int]
    MUTER_ID_FIELD_NUMBER: _ClassVar[int]
    MUTED_ID_FIELD_NUMBER: _ClassVar[int]
    meta: EventMeta
    muter_id: int
    muted_id: int
    def __init__(self, meta: _Optional[_Union[EventMeta, _Mapping]] = ..., muter_id: _Optional[int] = ..., muted_id: _Optional[int] = ...) -> None: ...

class AccountPrivacyChanged(_message.Message):
    __slots__ = ("meta", "user_id", "private")
    META_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    PRIVATE_FIELD_NUMBER: _ClassVar[int]
    meta: EventMeta
    user_id: int
    private: bool
    def __init__(self, meta: _Optional[_Union[EventMeta, _Mapping]] = ..., user_id: _Optional[int] = ..., private: _Optional[bool] = ...) -> None: ...
