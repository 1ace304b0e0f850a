import datetime

from google.api import annotations_pb2 as _annotations_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class LikeSummary(_message.Message):
    __slots__ = ("photo_id", "like_count", "viewer_has_liked")
    PHOTO_ID_FIELD_NUMBER: _ClassVar[int]
    LIKE_COUNT_FIELD_NUMBER: _ClassVar[int]
    VIEWER_HAS_LIKED_FIELD_NUMBER: _ClassVar[int]
    photo_id: int
    like_count: int
    viewer_has_liked: bool
    def __init__(self, photo_id: _Optional[int] = ..., like_count: _Optional[int] = ..., viewer_has_liked: _Optional[bool] = ...) -> None: ...

class LikePhotoRequest(_message.Message):
    __slots__ = ("photo_id", "user_id")
    PHOTO_ID_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    photo_id: int
    user_id: int
    def __init__(self, photo_id: _Optional[int] = ..., user_id: _Optional[int] = ...) -> None: ...

class LikePhotoResponse(_message.Message):
    __slots__ = ("summary", "created")
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    CREATED_FIELD_NUMBER: _ClassVar[int]
    summary: LikeSummary
    created: bool
    def __init__(self, summary: _Optional[_Union[LikeSummary, _Mapping]] = ..., created: _Optional[bool] = ...) -> None: ...

class UnlikePhotoRequest(_message.Message):
    __slots__ = ("photo_id", "user_id")
    PHOTO_ID_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    photo_id: int
    user_id: int
    def __init__(self, photo_id: _Optional[int] = ..., user_id: _Optional[int] = ...) -> None: ...

class UnlikePhotoResponse(_message.Message):
    __slots__ = ("summary", "removed")
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    REMOVED_FIELD_NUMBER: _ClassVar[int]
    summary: LikeSummary
    removed: bool
    def __init__(self, summary: _Optional[_Union[LikeSummary, _Mapping]] = ..., removed: _Optional[bool] = ...) -> None: ...

class GetLikeSummaryRequest(_message.Message):
    __slots__ = ("photo_id", "viewer_id")
    PHOTO_ID_FIELD_NUMBER: _ClassVar[int]
    VIEWER_ID_FIELD_NUMBER: _ClassVar[int]
    photo_id: int
    viewer_id: int
    def __init__(self, photo_id: _Optional[int] = ..., viewer_id: _Optional[int] = ...) -> None: ...

class GetLikeSummaryResponse(_message.Message):
    __slots__ = ("summary",)
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    summary: LikeSummary
    def __init__(self, summary: _Optional[_Union[LikeSummary, _Mapping]] = ...) -> None: ...

class BatchGetLikeSummariesRequest(_message.Message):
    __slots__ = ("photo_ids", "viewer_id")
    PHOTO_IDS_FIELD_NUMBER: _ClassVar[int]
    VIEWER_ID_FIELD_NUMBER: _ClassVar[int]
    photo_ids: _containers.RepeatedScalarFieldContainer[int]
    viewer_id: int
    def __init__(self, photo_ids: _Optional[_Iterable[int]] = ..., viewer_id: _Optional[int] = ...) -> None: ...

class BatchGetLikeSummariesResponse(_message.Message):
    __slots__ = ("summaries",)
    SUMMARIES_FIELD_NUMBER: _ClassVar[int]
    summaries: _containers.RepeatedCompositeFieldContainer[LikeSummary]
    def __init__(self, summaries: _Optional[_Iterable[_Union[LikeSummary, _Mapping]]] = ...) -> None: ...

class BatchGetViewerLikeSummariesRequest(_message.Message):
    __slots__ = ("requests",)
    REQUESTS_FIELD_NUMBER: _ClassVar[int]
    requests: _containers.RepeatedCompositeFieldContainer[GetLikeSummaryRequest]
    def __init__(self, requests: _Optional[_Iterable[_Union[GetLikeSummaryRequest, _Mapping]]] = ...) -> None: ...

class BatchGetViewerLikeSummariesResponse(_message.Message):
    __slots__ = ("summaries",)
    SUMMARIES_FIELD_NUMBER: _ClassVar[int]
    summaries: _containers.RepeatedCompositeFieldContainer[LikeSummary]
    def __init__(self, summaries: _Optional[_Iterable[_Union[LikeSummary, _Mapping]]] = ...) -> None: ...

class Liker(_message.Message):
    __slots__ = ("user_id", "liked_at")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    LIKED_AT_FIELD_NUMBER: _ClassVar[int]
    user_id: int
    liked_at: _timestamp_pb2.Timestamp
    def __init__(self, user_id: _Optional[int] = ..., liked_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ListLikersRequest(_message.Message):
    __slots__ = ("photo_id", "page_size", "page_token")
    PHOTO_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    photo_id: int
    page_size: int
    page_token: str
    def __init__(self, photo_id: _Optional[int] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListLikersResponse(_message.Message):
    __slots__ = ("likers", "next_page_token")
    LIKERS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    likers: _containers.RepeatedCompositeFieldContainer[Liker]
    next_page_token: str
    def __init__(self, likers: _Optional[_Iterable[_Union[Liker, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...
