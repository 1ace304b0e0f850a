import datetime

from google.api import annotations_pb2 as _annotations_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Follow(_message.Message):
    __slots__ = ("follower_id", "followee_id", "time_stamp")
    FOLLOWER_ID_FIELD_NUMBER: _ClassVar[int]
    FOLLOWEE_ID_FIELD_NUMBER: _ClassVar[int]
    TIME_STAMP_FIELD_NUMBER: _ClassVar[int]
    follower_id: int
    followee_id: int
    time_stamp: _timestamp_pb2.Timestamp
    def __init__(self, follower_id: _Optional[int] = ..., followee_id: _Optional[int] = ..., time_stamp: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class FollowRequest(_message.Message):
    __slots__ = ("follower_id", "followee_id", "time_stamp")
    FOLLOWER_ID_FIELD_NUMBER: _ClassVar[int]
    FOLLOWEE_ID_FIELD_NUMBER: _ClassVar[int]
    TIME_STAMP_FIELD_NUMBER: _ClassVar[int]
    follower_id: int
    followee_id: int
    time_stamp: _timestamp_pb2.Timestamp
    def __init__(self, follower_id: _Optional[int] = ..., followee_id: _Optional[int] = ..., time_stamp: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class FollowResponse(_message.Message):
    __slots__ = ("follow", "created")
    FOLLOW_FIELD_NUMBER: _ClassVar[int]
    CREATED_FIELD_NUMBER: _ClassVar[int]
    follow: Follow
    created: bool
    def __init__(self, follow: _Optional[_Union[Follow, _Mapping]] = ..., created: _Optional[bool] = ...) -> None: ...

class UnfollowRequest(_message.Message):
    __slots__ = ("follower_id", "followee_id", "time_stamp")
    FOLLOWER_ID_FIELD_NUMBER: _ClassVar[int]
    FOLLOWEE_ID_FIELD_NUMBER: _ClassVar[int]
    TIME_STAMP_FIELD_NUMBER: _ClassVar[int]
    follower_id: int
    followee_id: int
    time_stamp: _timestamp_pb2.Timestamp
    def __init__(self, follower_id: _Optional[int] = ..., followee_id: _Optional[int] = ..., time_stamp: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class UnfollowResponse(_message.Message):
    __slots__ = ("removed",)
    REMOVED_FIELD_NUMBER: _ClassVar[int]
    removed: bool
    def __init__(self, removed: _Optional[bool] = ...) -> None: ...

class ListFollowersRequest(_message.Message):
    __slots__ = ("user_id", "page_size", "page_token")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    user_id: int
    page_size: int
    page_token: str
    def __init__(self, user_id: _Optional[int] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListFollowersResponse(_message.Message):
    __slots__ = ("follows", "next_page_token")
    FOLLOWS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    follows: _containers.RepeatedCompositeFieldContainer[Follow]
    next_page_token: str
    def __init__(self, follows: _Optional[_Iterable[_Union[Follow, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class ListFolloweesRequest(_message.Message):
    __slots__ = ("user_id", "page_size", "page_token")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    user_id: int
    page_size: int
    page_token: str
    def __init__(self, user_id: _Optional[int] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListFolloweesResponse(_message.Message):
    __slots__ = ("follows", "next_page_token")
    FOLLOWS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    follows: _containers.RepeatedCompositeFieldContainer[Follow]
    next_page_token: str
    def __init__(self, follows: _Optional[_Iterable[_Union[Follow, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class GetFollowCountsRequest(_message.Message):
    __slots__ = ("user_id",)
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    user_id: int
    def __init__(self, user_id: _Optional[int] = ...) -> None: ...

class GetFollowCountsResponse(_message.Message):
    __slots__ = ("follower_count", "followee_count")
    FOLLOWER_COUNT_FIELD_NUMBER: _ClassVar[int]
    FOLLOWEE_COUNT_FIELD_NUMBER: _ClassVar[int]
    follower_count: int
    followee_count: int
    def __init__(self, follower_count: _Optional[int] = ..., followee_count: _Optional[int] = ...) -> None: ...

class CheckFollowingRequest(_message.Message):
    __slots__ = ("follower_id", "followee_ids")
    FOLLOWER_ID_FIELD_NUMBER: _ClassVar[int]
    FOLLOWEE_IDS_FIELD_NUMBER: _ClassVar[int]
    follower_id: int
    followee_ids: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, follower_id: _Optional[int] = ..., followee_ids: _Optional[_Iterable[int]] = ...) -> None: ...

class FollowState(_message.Message):
    __slots__ = ("followee_id", "following")
    FOLLOWEE_ID_FIELD_NUMBER: _ClassVar[int]
    FOLLOWING_FIELD_NUMBER: _ClassVar[int]
    followee_id: int
    following: bool
    def __init__(self, followee_id: _Optional[int] = ..., following: _Optional[bool] = ...) -> None: ...

class CheckFollowingResponse(_message.Message):
    __slots__ = ("states",)
    STATES_FIELD_NUMBER: _ClassVar[int]
    states: _containers.RepeatedCompositeFieldContainer[FollowState]
    def __init__(self, states: _Optional[_Iterable[_Union[FollowState, _Mapping]]] = ...) -> None: ...
