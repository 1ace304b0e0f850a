import datetime

from google.api import annotations_pb2 as _annotations_pb2
from google.protobuf import field_mask_pb2 as _field_mask_pb2
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
    __slots__ = ("photo_id", "user_id", "title", "location", "time_stamp", "tags", "created_at", "width", "height", "byte_size", "sha256", "content_type", "images", "caption", "mentioned_user_ids", "edited_at")
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
    IMAGES_FIELD_NUMBER: _ClassVar[int]
    CAPTION_FIELD_NUMBER: _ClassVar[int]
    MENTIONED_USER_IDS_FIELD_NUMBER: _ClassVar[int]
    EDITED_AT_FIELD_NUMBER: _ClassVar[int]
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
    images: _containers.RepeatedCompositeFieldContainer[Image]
    caption: str
    mentioned_user_ids: _containers.RepeatedScalarFieldContainer[int]
    edited_at: _timestamp_pb2.Timestamp
    def __init__(self, photo_id: _Optional[int] = ..., user_id: _Optional[int] = ..., title: _Optional[str] = ..., location: _Optional[str] = ..., time_stamp: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., tags: _Optional[_Iterable[str]] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., width: _Optional[int] = ..., height: _Optional[int] = ..., byte_size: _Optional[int] = ..., sha256: _Optional[str] = ..., content_type: _Optional[str] = ..., images: _Optional[_Iterable[_Union[Image, _Mapping]]] = ..., caption: _Optional[str] = ..., mentioned_user_ids: _Optional[_Iterable[int]] = ..., edited_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class Image(_message.Message):
    __slots__ = ("media_id", "width", "height", "byte_size", "sha256", "content_type", "alt_text", "blurhash", "dominant_color")
    MEDIA_ID_FIELD_NUMBER: _ClassVar[int]
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    BYTE_SIZE_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    CONTENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    ALT_TEXT_FIELD_NUMBER: _ClassVar[int]
    BLURHASH_FIELD_NUMBER: _ClassVar[int]
    DOMINANT_COLOR_FIELD_NUMBER: _ClassVar[int]
    media_id: int
    width: int
    height: int
    byte_size: int
    sha256: str
    content_type: str
    alt_text: str
    blurhash: str
    dominant_color: str
    def __init__(self, media_id: _Optional[int] = ..., width: _Optional[int] = ..., height: _Optional[int] = ..., byte_size: _Optional[int] = ..., sha256: _Optional[str] = ..., content_type: _Optional[str] = ..., alt_text: _Optional[str] = ..., blurhash: _Optional[str] = ..., dominant_color: _Optional[str] = ...) -> None: ...

class PhotoMetadata(_message.Message):
    __slots__ = ("user_id", "location", "time_stamp", "title", "tags", "idempotency_key", "alt_text", "caption")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    LOCATION_FIELD_NUMBER: _ClassVar[int]
    TIME_STAMP_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    ALT_TEXT_FIELD_NUMBER: _ClassVar[int]
    CAPTION_FIELD_NUMBER: _ClassVar[int]
    user_id: int
    location: str
    time_stamp: _timestamp_pb2.Timestamp
    title: str
    tags: _containers.RepeatedScalarFieldContainer[str]
    idempotency_key: str
    alt_text: str
    caption: str
    def __init__(self, user_id: _Optional[int] = ..., location: _Optional[str] = ..., time_stamp: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., title: _Optional[str] = ..., tags: _Optional[_Iterable[str]] = ..., idempotency_key: _Optional[str] = ..., alt_text: _Optional[str] = ..., caption: _Optional[str] = ...) -> None: ...

class MediaMetadata(_message.Message):
    __slots__ = ("idempotency_key", "alt_text")
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    ALT_TEXT_FIELD_NUMBER: _ClassVar[int]
    idempotency_key: str
    alt_text: str
    def __init__(self, idempotency_key: _Optional[str] = ..., alt_text: _Optional[str] = ...) -> None: ...

class UploadMediaRequest(_message.Message):
    __slots__ = ("metadata", "chunk")
    METADATA_FIELD_NUMBER: _ClassVar[int]
    CHUNK_FIELD_NUMBER: _ClassVar[int]
    metadata: MediaMetadata
    chunk: bytes
    def __init__(self, metadata: _Optional[_Union[MediaMetadata, _Mapping]] = ..., chunk: _Optional[bytes] = ...) -> None: ...

class UploadMediaResponse(_message.Message):
    __slots__ = ("media", "created", "expires_at")
    MEDIA_FIELD_NUMBER: _ClassVar[int]
    CREATED_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    media: Image
    created: bool
    expires_at: _timestamp_pb2.Timestamp
    def __init__(self, media: _Optional[_Union[Image, _Mapping]] = ..., created: _Optional[bool] = ..., expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class PostImage(_message.Message):
    __slots__ = ("media_id", "alt_text")
    MEDIA_ID_FIELD_NUMBER: _ClassVar[int]
    ALT_TEXT_FIELD_NUMBER: _ClassVar[int]
    media_id: int
    alt_text: str
    def __init__(self, media_id: _Optional[int] = ..., alt_text: _Optional[str] = ...) -> None: ...

class CreatePostRequest(_message.Message):
    __slots__ = ("metadata", "images")
    METADATA_FIELD_NUMBER: _ClassVar[int]
    IMAGES_FIELD_NUMBER: _ClassVar[int]
    metadata: PhotoMetadata
    images: _containers.RepeatedCompositeFieldContainer[PostImage]
    def __init__(self, metadata: _Optional[_Union[PhotoMetadata, _Mapping]] = ..., images: _Optional[_Iterable[_Union[PostImage, _Mapping]]] = ...) -> None: ...

class CreatePostResponse(_message.Message):
    __slots__ = ("photo", "created")
    PHOTO_FIELD_NUMBER: _ClassVar[int]
    CREATED_FIELD_NUMBER: _ClassVar[int]
    photo: Photo
    created: bool
    def __init__(self, photo: _Optional[_Union[Photo, _Mapping]] = ..., created: _Optional[bool] = ...) -> None: ...

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
    __slots__ = ("photo_id", "variant", "accept_url", "media_id")
    PHOTO_ID_FIELD_NUMBER: _ClassVar[int]
    VARIANT_FIELD_NUMBER: _ClassVar[int]
    ACCEPT_URL_FIELD_NUMBER: _ClassVar[int]
    MEDIA_ID_FIELD_NUMBER: _ClassVar[int]
    photo_id: int
    variant: PhotoVariant
    accept_url: bool
    media_id: int
    def __init__(self, photo_id: _Optional[int] = ..., variant: _Optional[_Union[PhotoVariant, str]] = ..., accept_url: _Optional[bool] = ..., media_id: _Optional[int] = ...) -> None: ...

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
    __slots__ = ("photos", "next_page_token", "total_size")
    PHOTOS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    TOTAL_SIZE_FIELD_NUMBER: _ClassVar[int]
    photos: _containers.RepeatedCompositeFieldContainer[Photo]
    next_page_token: str
    total_size: int
    def __init__(self, photos: _Optional[_Iterable[_Union[Photo, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., total_size: _Optional[int] = ...) -> None: ...

class ImageAltText(_message.Message):
    __slots__ = ("media_id", "alt_text")
    MEDIA_ID_FIELD_NUMBER: _ClassVar[int]
    ALT_TEXT_FIELD_NUMBER: _ClassVar[int]
    media_id: int
    alt_text: str
    def __init__(self, media_id: _Optional[int] = ..., alt_text: _Optional[str] = ...) -> None: ...

class UpdatePhotoRequest(_message.Message):
    __slots__ = ("photo_id", "title", "caption", "location", "tags", "alt_texts", "update_mask")
    PHOTO_ID_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    CAPTION_FIELD_NUMBER: _ClassVar[int]
    LOCATION_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    ALT_TEXTS_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    photo_id: int
    title: str
    caption: str
    location: str
    tags: _containers.RepeatedScalarFieldContainer[str]
    alt_texts: _containers.RepeatedCompositeFieldContainer[ImageAltText]
    update_mask: _field_mask_pb2.FieldMask
    def __init__(self, photo_id: _Optional[int] = ..., title: _Optional[str] = ..., caption: _Optional[str] = ..., location: _Optional[str] = ..., tags: _Optional[_Iterable[str]] = ..., alt_texts: _Optional[_Iterable[_Union[ImageAltText, _Mapping]]] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ...) -> None: ...

class UpdatePhotoResponse(_message.Message):
    __slots__ = ("photo",)
    PHOTO_FIELD_NUMBER: _ClassVar[int]
    photo: Photo
    def __init__(self, photo: _Optional[_Union[Photo, _Mapping]] = ...) -> None: ...

class DeletePhotoRequest(_message.Message):
    __slots__ = ("photo_id",)
    PHOTO_ID_FIELD_NUMBER: _ClassVar[int]
    photo_id: int
    def __init__(self, photo_id: _Optional[int] = ...) -> None: ...

class DeletePhotoResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...
