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
    __slots__ = ("follow", "created", "pending")
    FOLLOW_FIELD_NUMBER: _ClassVar[int]
    CREATED_FIELD_NUMBER: _ClassVar[int]
    PENDING_FIELD_NUMBER: _ClassVar[int]
    follow: Follow
    created: bool
    pending: bool
    def __init__(self, follow: _Optional[_Union[Follow, _Mapping]] = ..., created: _Optional[bool] = ..., pending: _Optional[bool] = ...) -> None: ...

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

class FollowRequestEntry(_message.Message):
    __slots__ = ("requester_id", "target_id", "time_stamp")
    REQUESTER_ID_FIELD_NUMBER: _ClassVar[int]
    TARGET_ID_FIELD_NUMBER: _ClassVar[int]
    TIME_STAMP_FIELD_NUMBER: _ClassVar[int]
    requester_id: int
    target_id: int
    time_stamp: _timestamp_pb2.Timestamp
    def __init__(self, requester_id: _Optional[int] = ..., target_id: _Optional[int] = ..., time_stamp: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ListFollowRequestsRequest(_message.Message):
    __slots__ = ("user_id", "page_size", "page_token")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    user_id: int
    page_size: int
    page_token: str
    def __init__(self, user_id: _Optional[int] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListFollowRequestsResponse(_message.Message):
    __slots__ = ("requests", "next_page_token")
    REQUESTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    requests: _containers.RepeatedCompositeFieldContainer[FollowRequestEntry]
    next_page_token: str
    def __init__(self, requests: _Optional[_Iterable[_Union[FollowRequestEntry, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class ApproveFollowRequestRequest(_message.Message):
    __slots__ = ("user_id", "requester_id")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    REQUESTER_ID_FIELD_NUMBER: _ClassVar[int]
    user_id: int
    requester_id: int
    def __init__(self, user_id: _Optional[int] = ..., requester_id: _Optional[int] = ...) -> None: ...

class ApproveFollowRequestResponse(_message.Message):
    __slots__ = ("follow",)
    FOLLOW_FIELD_NUMBER: _ClassVar[int]
    follow: Follow
    def __init__(self, follow: _Optional[_Union[Follow, _Mapping]] = ...) -> None: ...

class RejectFollowRequestRequest(_message.Message):
    __slots__ = ("user_id", "requester_id")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    REQUESTER_ID_FIELD_NUMBER: _ClassVar[int]
    user_id: int
    requester_id: int
    def __init__(self, user_id: _Optional[int] = ..., requester_id: _Optional[int] = ...) -> None: ...

class RejectFollowRequestResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class WithdrawFollowRequestRequest(_message.Message):
    __slots__ = ("requester_id", "target_id")
    REQUESTER_ID_FIELD_NUMBER: _ClassVar[int]
    TARGET_ID_FIELD_NUMBER: _ClassVar[int]
    requester_id: int
    target_id: int
    def __init__(self, requester_id: _Optional[int] = ..., target_id: _Optional[int] = ...) -> None: ...

class WithdrawFollowRequestResponse(_message.Message):
    __slots__ = ("removed",)
    REMOVED_FIELD_NUMBER: _ClassVar[int]
    removed: bool
    def __init__(self, removed: _Optional[bool] = ...) -> None: ...

class SetAccountPrivacyRequest(_message.Message):
    __slots__ = ("user_id", "private")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    PRIVATE_FIELD_NUMBER: _ClassVar[int]
    user_id: int
    private: bool
    def __init__(self, user_id: _Optional[int] = ..., private: _Optional[bool] = ...) -> None: ...

class SetAccountPrivacyResponse(_message.Message):
    __slots__ = ("private", "approved_requests")
    PRIVATE_FIELD_NUMBER: _ClassVar[int]
    APPROVED_REQUESTS_FIELD_NUMBER: _ClassVar[int]
    private: bool
    approved_requests: int
    def __init__(self, private: _Optional[bool] = ..., approved_requests: _Optional[int] = ...) -> None: ...

class UserLink(_message.Message):
    __slots__ = ("user_id", "time_stamp")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    TIME_STAMP_FIELD_NUMBER: _ClassVar[int]
    user_id: int
    time_stamp: _timestamp_pb2.Timestamp
    def __init__(self, user_id: _Optional[int] = ..., time_stamp: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class BlockUserRequest(_message.Message):
    __slots__ = ("user_id", "blocked_id")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    BLOCKED_ID_FIELD_NUMBER: _ClassVar[int]
    user_id: int
    blocked_id: int
    def __init__(self, user_id: _Optional[int] = ..., blocked_id: _Optional[int] = ...) -> None: ...

class BlockUserResponse(_message.Message):
    __slots__ = ("created",)
    CREATED_FIELD_NUMBER: _ClassVar[int]
    created: bool
    def __init__(self, created: _Optional[bool] = ...) -> None: ...

class UnblockUserRequest(_message.Message):
    __slots__ = ("user_id", "blocked_id")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    BLOCKED_ID_FIELD_NUMBER: _ClassVar[int]
    user_id: int
    blocked_id: int
    def __init__(self, user_id: _Optional[int] = ..., blocked_id: _Optional[int] = ...) -> None: ...

class UnblockUserResponse(_message.Message):
    __slots__ = ("removed",)
    REMOVED_FIELD_NUMBER: _ClassVar[int]
    removed: bool
    def __init__(self, removed: _Optional[bool] = ...) -> None: ...

class ListBlockedUsersRequest(_message.Message):
    __slots__ = ("user_id", "page_size", "page_token")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    user_id: int
    page_size: int
    page_token: str
    def __init__(self, user_id: _Optional[int] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListBlockedUsersResponse(_message.Message):
    __slots__ = ("users", "next_page_token")
    USERS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    users: _containers.RepeatedCompositeFieldContainer[UserLink]
    next_page_token: str
    def __init__(self, users: _Optional[_Iterable[_Union[UserLink, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class MuteUserRequest(_message.Message):
    __slots__ = ("user_id", "muted_id")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    MUTED_ID_FIELD_NUMBER: _ClassVar[int]
    user_id: int
    muted_id: int
    def __init__(self, user_id: _Optional[int] = ..., muted_id: _Optional[int] = ...) -> None: ...

class MuteUserResponse(_message.Message):
    __slots__ = ("created",)
    CREATED_FIELD_NUMBER: _ClassVar[int]
    created: bool
    def __init__(self, created: _Optional[bool] = ...) -> None: ...

class UnmuteUserRequest(_message.Message):
    __slots__ = ("user_id", "muted_id")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    MUTED_ID_FIELD_NUMBER: _ClassVar[int]
    user_id: int
    muted_id: int
    def __init__(self, user_id: _Optional[int] = ..., muted_id: _Optional[int] = ...) -> None: ...

class UnmuteUserResponse(_message.Message):
    __slots__ = ("removed",)
    REMOVED_FIELD_NUMBER: _ClassVar[int]
    removed: bool
    def __init__(self, removed: _Optional[bool] = ...) -> None: ...

class ListMutedUsersRequest(_message.Message):
    __slots__ = ("user_id", "page_size", "page_token")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    user_id: int
    page_size: int
    page_token: str
    def __init__(self, user_id: _Optional[int] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListMutedUsersResponse(_message.Message):
    __slots__ = ("users", "next_page_token")
    USERS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    users: _containers.RepeatedCompositeFieldContainer[UserLink]
    next_page_token: str
    def __init__(self, users: _Optional[_Iterable[_Union[UserLink, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class RelationshipView(_message.Message):
    __slots__ = ("user_id", "private", "following", "requested", "blocking", "muting", "followed_by")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    PRIVATE_FIELD_NUMBER: _ClassVar[int]
    FOLLOWING_FIELD_NUMBER: _ClassVar[int]
    REQUESTED_FIELD_NUMBER: _ClassVar[int]
    BLOCKING_FIELD_NUMBER: _ClassVar[int]
    MUTING_FIELD_NUMBER: _ClassVar[int]
    FOLLOWED_BY_FIELD_NUMBER: _ClassVar[int]
    user_id: int
    private: bool
    following: bool
    requested: bool
    blocking: bool
    muting: bool
    followed_by: bool
    def __init__(self, user_id: _Optional[int] = ..., private: _Optional[bool] = ..., following: _Optional[bool] = ..., requested: _Optional[bool] = ..., blocking: _Optional[bool] = ..., muting: _Optional[bool] = ..., followed_by: _Optional[bool] = ...) -> None: ...

class GetRelationshipsRequest(_message.Message):
    __slots__ = ("viewer_id", "user_ids")
    VIEWER_ID_FIELD_NUMBER: _ClassVar[int]
    USER_IDS_FIELD_NUMBER: _ClassVar[int]
    viewer_id: int
    user_ids: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, viewer_id: _Optional[int] = ..., user_ids: _Optional[_Iterable[int]] = ...) -> None: ...

class GetRelationshipsResponse(_message.Message):
    __slots__ = ("relationships",)
    RELATIONSHIPS_FIELD_NUMBER: _ClassVar[int]
    relationships: _containers.RepeatedCompositeFieldContainer[RelationshipView]
    def __init__(self, relationships: _Optional[_Iterable[_Union[RelationshipView, _Mapping]]] = ...) -> None: ...

class RelationshipPair(_message.Message):
    __slots__ = ("viewer_id", "author_id")
    VIEWER_ID_FIELD_NUMBER: _ClassVar[int]
    AUTHOR_ID_FIELD_NUMBER: _ClassVar[int]
    viewer_id: int
    author_id: int
    def __init__(self, viewer_id: _Optional[int] = ..., author_id: _Optional[int] = ...) -> None: ...

class Relationship(_message.Message):
    __slots__ = ("viewer_id", "author_id", "author_private", "following", "requested", "blocked_by_author", "blocked_by_viewer", "muted")
    VIEWER_ID_FIELD_NUMBER: _ClassVar[int]
    AUTHOR_ID_FIELD_NUMBER: _ClassVar[int]
    AUTHOR_PRIVATE_FIELD_NUMBER: _ClassVar[int]
    FOLLOWING_FIELD_NUMBER: _ClassVar[int]
    REQUESTED_FIELD_NUMBER: _ClassVar[int]
    BLOCKED_BY_AUTHOR_FIELD_NUMBER: _ClassVar[int]
    BLOCKED_BY_VIEWER_FIELD_NUMBER: _ClassVar[int]
    MUTED_FIELD_NUMBER: _ClassVar[int]
    viewer_id: int
    author_id: int
    author_private: bool
    following: bool
    requested: bool
    blocked_by_author: bool
    blocked_by_viewer: bool
    muted: bool
    def __init__(self, viewer_id: _Optional[int] = ..., author_id: _Optional[int] = ..., author_private: _Optional[bool] = ..., following: _Optional[bool] = ..., requested: _Optional[bool] = ..., blocked_by_author: _Optional[bool] = ..., blocked_by_viewer: _Optional[bool] = ..., muted: _Optional[bool] = ...) -> None: ...

class BatchGetRelationshipsRequest(_message.Message):
    __slots__ = ("pairs",)
    PAIRS_FIELD_NUMBER: _ClassVar[int]
    pairs: _containers.RepeatedCompositeFieldContainer[RelationshipPair]
    def __init__(self, pairs: _Optional[_Iterable[_Union[RelationshipPair, _Mapping]]] = ...) -> None: ...

class BatchGetRelationshipsResponse(_message.Message):
    __slots__ = ("relationships",)
    RELATIONSHIPS_FIELD_NUMBER: _ClassVar[int]
    relationships: _containers.RepeatedCompositeFieldContainer[Relationship]
    def __init__(self, relationships: _Optional[_Iterable[_Union[Relationship, _Mapping]]] = ...) -> None: ...
