from google.api import annotations_pb2 as _annotations_pb2
from shutter.comment.v1 import comment_pb2 as _comment_pb2
from shutter.photo.v1 import photo_pb2 as _photo_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ViewPart(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    VIEW_PART_UNSPECIFIED: _ClassVar[ViewPart]
    VIEW_PART_LIKES: _ClassVar[ViewPart]
    VIEW_PART_COMMENTS: _ClassVar[ViewPart]
VIEW_PART_UNSPECIFIED: ViewPart
VIEW_PART_LIKES: ViewPart
VIEW_PART_COMMENTS: ViewPart

class PhotoView(_message.Message):
    __slots__ = ("photo", "like_count", "viewer_has_liked", "comment_count", "comments", "comments_next_page_token", "unavailable_parts")
    PHOTO_FIELD_NUMBER: _ClassVar[int]
    LIKE_COUNT_FIELD_NUMBER: _ClassVar[int]
    VIEWER_HAS_LIKED_FIELD_NUMBER: _ClassVar[int]
    COMMENT_COUNT_FIELD_NUMBER: _ClassVar[int]
    COMMENTS_FIELD_NUMBER: _ClassVar[int]
    COMMENTS_NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    UNAVAILABLE_PARTS_FIELD_NUMBER: _ClassVar[int]
    photo: _photo_pb2.Photo
    like_count: int
    viewer_has_liked: bool
    comment_count: int
    comments: _containers.RepeatedCompositeFieldContainer[_comment_pb2.Comment]
    comments_next_page_token: str
    unavailable_parts: _containers.RepeatedScalarFieldContainer[ViewPart]
    def __init__(self, photo: _Optional[_Union[_photo_pb2.Photo, _Mapping]] = ..., like_count: _Optional[int] = ..., viewer_has_liked: _Optional[bool] = ..., comment_count: _Optional[int] = ..., comments: _Optional[_Iterable[_Union[_comment_pb2.Comment, _Mapping]]] = ..., comments_next_page_token: _Optional[str] = ..., unavailable_parts: _Optional[_Iterable[_Union[ViewPart, str]]] = ...) -> None: ...

class ViewPhotoRequest(_message.Message):
    __slots__ = ("photo_id", "user_id")
    PHOTO_ID_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    photo_id: int
    user_id: int
    def __init__(self, photo_id: _Optional[int] = ..., user_id: _Optional[int] = ...) -> None: ...

class ViewPhotoResponse(_message.Message):
    __slots__ = ("view",)
    VIEW_FIELD_NUMBER: _ClassVar[int]
    view: PhotoView
    def __init__(self, view: _Optional[_Union[PhotoView, _Mapping]] = ...) -> None: ...

class ViewUserPhotosRequest(_message.Message):
    __slots__ = ("user_id", "viewer_id", "page_size", "page_token")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    VIEWER_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    user_id: int
    viewer_id: int
    page_size: int
    page_token: str
    def __init__(self, user_id: _Optional[int] = ..., viewer_id: _Optional[int] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ViewUserPhotosResponse(_message.Message):
    __slots__ = ("views", "next_page_token")
    VIEWS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    views: _containers.RepeatedCompositeFieldContainer[PhotoView]
    next_page_token: str
    def __init__(self, views: _Optional[_Iterable[_Union[PhotoView, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...
