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

class PhotoVariant(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PHOTO_VARIANT_UNSPECIFIED: _ClassVar[PhotoVariant]
    PHOTO_VARIANT_ORIGINAL: _ClassVar[PhotoVariant]
    PHOTO_VARIANT_DISPLAY: _ClassVar[PhotoVariant]
    PHOTO_VARIANT_THUMBNAIL: _ClassVar[PhotoVariant]
PHOTO_VARIANT_UNSPECIFIED: PhotoVariant
PHOTO_VARIANT_ORIGINAL: PhotoVariant
PHOTO_VARIANT_DISPLAY: PhotoVariant
PHOTO_VARIANT_THUMBNAIL: PhotoVariant

class Photo(_message.Message):
    __slots__ = ("photo_id", "user_id", "title", "location", "time_stamp", "tags", "created_at", "width", "height", "byte_size", "sha256", "content_type")
    PHOTO_ID_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    LOCATION_FIELD_NUMBER: _ClassVar[int]
    TIME_STAMP_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    BYTE_SIZE_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    CONTENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    photo_id: int
    user_id: int
    title: str
    location: str
    time_stamp: _timestamp_pb2.Timestamp
    tags: _containers.RepeatedScalarFieldContainer[str]
    created_at: _timestamp_pb2.Timestamp
    width: int
    height: int
    byte_size: int
    sha256: str
    content_type: str
    def __init__(self, photo_id: _Optional[int] = ..., user_id: _Optional[int] = ..., title: _Optional[str] = ..., location: _Optional[str] = ..., time_stamp: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., tags: _Optional[_Iterable[str]] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., width: _Optional[int] = ..., height: _Optional[int] = ..., byte_size: _Optional[int] = ..., sha256: _Optional[str] = ..., content_type: _Optional[str] = ...) -> None: ...

class PhotoMetadata(_message.Message):
    __slots__ = ("user_id", "location", "time_stamp", "title", "tags", "idempotency_key")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    LOCATION_FIELD_NUMBER: _ClassVar[int]
    TIME_STAMP_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    user_id: int
    location: str
    time_stamp: _timestamp_pb2.Timestamp
    title: str
    tags: _containers.RepeatedScalarFieldContainer[str]
    idempotency_key: str
    def __init__(self, user_id: _Optional[int] = ..., location: _Optional[str] = ..., time_stamp: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., title: _Optional[str] = ..., tags: _Optional[_Iterable[str]] = ..., idempotency_key: _Optional[str] = ...) -> None: ...

class UploadPhotoRequest(_message.Message):
    __slots__ = ("metadata", "chunk")
    METADATA_FIELD_NUMBER: _ClassVar[int]
    CHUNK_FIELD_NUMBER: _ClassVar[int]
    metadata: PhotoMetadata
    chunk: bytes
    def __init__(self, metadata: _Optional[_Union[PhotoMetadata, _Mapping]] = ..., chunk: _Optional[bytes] = ...) -> None: ...

class UploadPhotoResponse(_message.Message):
    __slots__ = ("photo", "created")
    PHOTO_FIELD_NUMBER: _ClassVar[int]
    CREATED_FIELD_NUMBER: _ClassVar[int]
    photo: Photo
    created: bool
    def __init__(self, photo: _Optional[_Union[Photo, _Mapping]] = ..., created: _Optional[bool] = ...) -> None: ...

class GetPhotoRequest(_message.Message):
    __slots__ = ("photo_id",)
    PHOTO_ID_FIELD_NUMBER: _ClassVar[int]
    photo_id: int
    def __init__(self, photo_id: _Optional[int] = ...) -> None: ...

class GetPhotoResponse(_message.Message):
    __slots__ = ("photo",)
    PHOTO_FIELD_NUMBER: _ClassVar[int]
    photo: Photo
    def __init__(self, photo: _Optional[_Union[Photo, _Mapping]] = ...) -> None: ...

class BatchGetPhotosRequest(_message.Message):
    __slots__ = ("photo_ids",)
    PHOTO_IDS_FIELD_NUMBER: _ClassVar[int]
    photo_ids: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, photo_ids: _Optional[_Iterable[int]] = ...) -> None: ...

class BatchGetPhotosResponse(_message.Message):
    __slots__ = ("photos",)
    PHOTOS_FIELD_NUMBER: _ClassVar[int]
    photos: _containers.RepeatedCompositeFieldContainer[Photo]
    def __init__(self, photos: _Optional[_Iterable[_Union[Photo, _Mapping]]] = ...) -> None: ...

class DownloadPhotoRequest(_message.Message):
    __slots__ = ("photo_id", "variant", "accept_url")
    PHOTO_ID_FIELD_NUMBER: _ClassVar[int]
    VARIANT_FIELD_NUMBER: _ClassVar[int]
    ACCEPT_URL_FIELD_NUMBER: _ClassVar[int]
    photo_id: int
    variant: PhotoVariant
    accept_url: bool
    def __init__(self, photo_id: _Optional[int] = ..., variant: _Optional[_Union[PhotoVariant, str]] = ..., accept_url: _Optional[bool] = ...) -> None: ...

class ContentInfo(_message.Message):
    __slots__ = ("content_type", "byte_size", "sha256", "variant", "url", "url_expires_at")
    CONTENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    BYTE_SIZE_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    VARIANT_FIELD_NUMBER: _ClassVar[int]
    URL_FIELD_NUMBER: _ClassVar[int]
    URL_EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    content_type: str
    byte_size: int
    sha256: str
    variant: PhotoVariant
    url: str
    url_expires_at: _timestamp_pb2.Timestamp
    def __init__(self, content_type: _Optional[str] = ..., byte_size: _Optional[int] = ..., sha256: _Optional[str] = ..., variant: _Optional[_Union[PhotoVariant, str]] = ..., url: _Optional[str] = ..., url_expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class DownloadPhotoResponse(_message.Message):
    __slots__ = ("info", "chunk")
    INFO_FIELD_NUMBER: _ClassVar[int]
    CHUNK_FIELD_NUMBER: _ClassVar[int]
    info: ContentInfo
    chunk: bytes
    def __init__(self, info: _Optional[_Union[ContentInfo, _Mapping]] = ..., chunk: _Optional[bytes] = ...) -> None: ...

class ListUserPhotosRequest(_message.Message):
    __slots__ = ("user_id", "page_size", "page_token")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    user_id: int
    page_size: int
    page_token: str
    def __init__(self, user_id: _Optional[int] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListUserPhotosResponse(_message.Message):
    __slots__ = ("photos", "next_page_token")
    PHOTOS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    photos: _containers.RepeatedCompositeFieldContainer[Photo]
    next_page_token: str
    def __init__(self, photos: _Optional[_Iterable[_Union[Photo, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class DeletePhotoRequest(_message.Message):
    __slots__ = ("photo_id",)
    PHOTO_ID_FIELD_NUMBER: _ClassVar[int]
    photo_id: int
    def __init__(self, photo_id: _Optional[int] = ...) -> None: ...

class DeletePhotoResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...
