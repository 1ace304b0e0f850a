import datetime

from google.api import annotations_pb2 as _annotations_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class FeedItem(_message.Message):
    __slots__ = ("photo_id", "author_id", "posted_at")
    PHOTO_ID_FIELD_NUMBER: _ClassVar[int]
    AUTHOR_ID_FIELD_NUMBER: _ClassVar[int]
    POSTED_AT_FIELD_NUMBER: _ClassVar[int]
    photo_id: int
    author_id: int
    posted_at: _timestamp_pb2.Timestamp
    def __init__(self, photo_id: _Optional[int] = ..., author_id: _Optional[int] = ..., posted_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class GetFeedRequest(_message.Message):
    __slots__ = ("user_id", "page_size", "page_token")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    user_id: int
    page_size: int
    page_token: str
    def __init__(self, user_id: _Optional[int] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class GetFeedResponse(_message.Message):
    __slots__ = ("items", "next_page_token")
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    items: _containers.RepeatedCompositeFieldContainer[FeedItem]
    next_page_token: str
    def __init__(self, items: _Optional[_Iterable[_Union[FeedItem, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class WatchFeedRequest(_message.Message):
    __slots__ = ("user_id", "after_position")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    AFTER_POSITION_FIELD_NUMBER: _ClassVar[int]
    user_id: int
    after_position: int
    def __init__(self, user_id: _Optional[int] = ..., after_position: _Optional[int] = ...) -> None: ...

class WatchFeedResponse(_message.Message):
    __slots__ = ("position", "item", "resync")
    POSITION_FIELD_NUMBER: _ClassVar[int]
    ITEM_FIELD_NUMBER: _ClassVar[int]
    RESYNC_FIELD_NUMBER: _ClassVar[int]
    position: int
    item: FeedItem
    resync: bool
    def __init__(self, position: _Optional[int] = ..., item: _Optional[_Union[FeedItem, _Mapping]] = ..., resync: _Optional[bool] = ...) -> None: ...
