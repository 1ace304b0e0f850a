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

class CommentOrder(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    COMMENT_ORDER_UNSPECIFIED: _ClassVar[CommentOrder]
    COMMENT_ORDER_OLDEST_FIRST: _ClassVar[CommentOrder]
    COMMENT_ORDER_NEWEST_FIRST: _ClassVar[CommentOrder]
COMMENT_ORDER_UNSPECIFIED: CommentOrder
COMMENT_ORDER_OLDEST_FIRST: CommentOrder
COMMENT_ORDER_NEWEST_FIRST: CommentOrder

class Comment(_message.Message):
    __slots__ = ("comment_id", "photo_id", "user_id", "text", "time_stamp", "created_at", "parent_id")
    COMMENT_ID_FIELD_NUMBER: _ClassVar[int]
    PHOTO_ID_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    TIME_STAMP_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    PARENT_ID_FIELD_NUMBER: _ClassVar[int]
    comment_id: int
    photo_id: int
    user_id: int
    text: str
    time_stamp: _timestamp_pb2.Timestamp
    created_at: _timestamp_pb2.Timestamp
    parent_id: int
    def __init__(self, comment_id: _Optional[int] = ..., photo_id: _Optional[int] = ..., user_id: _Optional[int] = ..., text: _Optional[str] = ..., time_stamp: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., parent_id: _Optional[int] = ...) -> None: ...

class PostCommentRequest(_message.Message):
    __slots__ = ("photo_id", "user_id", "time_stamp", "text", "reply_to")
    PHOTO_ID_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    TIME_STAMP_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    REPLY_TO_FIELD_NUMBER: _ClassVar[int]
    photo_id: int
    user_id: int
    time_stamp: _timestamp_pb2.Timestamp
    text: str
    reply_to: int
    def __init__(self, photo_id: _Optional[int] = ..., user_id: _Optional[int] = ..., time_stamp: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., text: _Optional[str] = ..., reply_to: _Optional[int] = ...) -> None: ...

class PostCommentResponse(_message.Message):
    __slots__ = ("comment",)
    COMMENT_FIELD_NUMBER: _ClassVar[int]
    comment: Comment
    def __init__(self, comment: _Optional[_Union[Comment, _Mapping]] = ...) -> None: ...

class ListCommentsRequest(_message.Message):
    __slots__ = ("photo_id", "page_size", "page_token", "order")
    PHOTO_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    ORDER_FIELD_NUMBER: _ClassVar[int]
    photo_id: int
    page_size: int
    page_token: str
    order: CommentOrder
    def __init__(self, photo_id: _Optional[int] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., order: _Optional[_Union[CommentOrder, str]] = ...) -> None: ...

class ListCommentsResponse(_message.Message):
    __slots__ = ("comments", "next_page_token", "total_size")
    COMMENTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    TOTAL_SIZE_FIELD_NUMBER: _ClassVar[int]
    comments: _containers.RepeatedCompositeFieldContainer[Comment]
    next_page_token: str
    total_size: int
    def __init__(self, comments: _Optional[_Iterable[_Union[Comment, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., total_size: _Optional[int] = ...) -> None: ...

class DeleteCommentRequest(_message.Message):
    __slots__ = ("photo_id", "comment_id")
    PHOTO_ID_FIELD_NUMBER: _ClassVar[int]
    COMMENT_ID_FIELD_NUMBER: _ClassVar[int]
    photo_id: int
    comment_id: int
    def __init__(self, photo_id: _Optional[int] = ..., comment_id: _Optional[int] = ...) -> None: ...

class DeleteCommentResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class BatchListCommentsRequest(_message.Message):
    __slots__ = ("photo_ids", "page_size", "order")
    PHOTO_IDS_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    ORDER_FIELD_NUMBER: _ClassVar[int]
    photo_ids: _containers.RepeatedScalarFieldContainer[int]
    page_size: int
    order: CommentOrder
    def __init__(self, photo_ids: _Optional[_Iterable[int]] = ..., page_size: _Optional[int] = ..., order: _Optional[_Union[CommentOrder, str]] = ...) -> None: ...

class PhotoComments(_message.Message):
    __slots__ = ("photo_id", "comments", "next_page_token", "total_size")
    PHOTO_ID_FIELD_NUMBER: _ClassVar[int]
    COMMENTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    TOTAL_SIZE_FIELD_NUMBER: _ClassVar[int]
    photo_id: int
    comments: _containers.RepeatedCompositeFieldContainer[Comment]
    next_page_token: str
    total_size: int
    def __init__(self, photo_id: _Optional[int] = ..., comments: _Optional[_Iterable[_Union[Comment, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., total_size: _Optional[int] = ...) -> None: ...

class BatchListCommentsResponse(_message.Message):
    __slots__ = ("photos",)
    PHOTOS_FIELD_NUMBER: _ClassVar[int]
    photos: _containers.RepeatedCompositeFieldContainer[PhotoComments]
    def __init__(self, photos: _Optional[_Iterable[_Union[PhotoComments, _Mapping]]] = ...) -> None: ...

class CommentLikes(_message.Message):
    __slots__ = ("comment_id", "like_count", "viewer_has_liked")
    COMMENT_ID_FIELD_NUMBER: _ClassVar[int]
    LIKE_COUNT_FIELD_NUMBER: _ClassVar[int]
    VIEWER_HAS_LIKED_FIELD_NUMBER: _ClassVar[int]
    comment_id: int
    like_count: int
    viewer_has_liked: bool
    def __init__(self, comment_id: _Optional[int] = ..., like_count: _Optional[int] = ..., viewer_has_liked: _Optional[bool] = ...) -> None: ...

class LikeCommentRequest(_message.Message):
    __slots__ = ("photo_id", "comment_id")
    PHOTO_ID_FIELD_NUMBER: _ClassVar[int]
    COMMENT_ID_FIELD_NUMBER: _ClassVar[int]
    photo_id: int
    comment_id: int
    def __init__(self, photo_id: _Optional[int] = ..., comment_id: _Optional[int] = ...) -> None: ...

class LikeCommentResponse(_message.Message):
    __slots__ = ("likes",)
    LIKES_FIELD_NUMBER: _ClassVar[int]
    likes: CommentLikes
    def __init__(self, likes: _Optional[_Union[CommentLikes, _Mapping]] = ...) -> None: ...

class UnlikeCommentRequest(_message.Message):
    __slots__ = ("photo_id", "comment_id")
    PHOTO_ID_FIELD_NUMBER: _ClassVar[int]
    COMMENT_ID_FIELD_NUMBER: _ClassVar[int]
    photo_id: int
    comment_id: int
    def __init__(self, photo_id: _Optional[int] = ..., comment_id: _Optional[int] = ...) -> None: ...

class UnlikeCommentResponse(_message.Message):
    __slots__ = ("likes",)
    LIKES_FIELD_NUMBER: _ClassVar[int]
    likes: CommentLikes
    def __init__(self, likes: _Optional[_Union[CommentLikes, _Mapping]] = ...) -> None: ...

class BatchGetCommentLikesRequest(_message.Message):
    __slots__ = ("photo_id", "comment_ids")
    PHOTO_ID_FIELD_NUMBER: _ClassVar[int]
    COMMENT_IDS_FIELD_NUMBER: _ClassVar[int]
    photo_id: int
    comment_ids: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, photo_id: _Optional[int] = ..., comment_ids: _Optional[_Iterable[int]] = ...) -> None: ...

class BatchGetCommentLikesResponse(_message.Message):
    __slots__ = ("likes",)
    LIKES_FIELD_NUMBER: _ClassVar[int]
    likes: _containers.RepeatedCompositeFieldContainer[CommentLikes]
    def __init__(self, likes: _Optional[_Iterable[_Union[CommentLikes, _Mapping]]] = ...) -> None: ...

class CommentCount(_message.Message):
    __slots__ = ("photo_id", "comment_count")
    PHOTO_ID_FIELD_NUMBER: _ClassVar[int]
    COMMENT_COUNT_FIELD_NUMBER: _ClassVar[int]
    photo_id: int
    comment_count: int
    def __init__(self, photo_id: _Optional[int] = ..., comment_count: _Optional[int] = ...) -> None: ...

class BatchGetCommentCountsRequest(_message.Message):
    __slots__ = ("photo_ids",)
    PHOTO_IDS_FIELD_NUMBER: _ClassVar[int]
    photo_ids: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, photo_ids: _Optional[_Iterable[int]] = ...) -> None: ...

class BatchGetCommentCountsResponse(_message.Message):
    __slots__ = ("counts",)
    COUNTS_FIELD_NUMBER: _ClassVar[int]
    counts: _containers.RepeatedCompositeFieldContainer[CommentCount]
    def __init__(self, counts: _Optional[_Iterable[_Union[CommentCount, _Mapping]]] = ...) -> None: ...
