"""SearchService handlers: validate the query, turn it into terms, page through the index.

Any authenticated caller may search (the server interceptor enforces the token); hits pass the
visibility policy (services.runtime.visibility): a private account's photos are found only by its
approved followers, and blocked users never find each other's.

Hits come from the index's own documents, so a search never waits on the photo service. Pages are
keyset pages on photo_id (ids are time-ordered, so this is newest first); the opaque token carries
the last id and a fingerprint of the query, so a token cannot be replayed against another query.
"""

from __future__ import annotations

import hashlib

from services.runtime.channels import SERVICE
from services.runtime.errors import InvalidArgument, Violations
from services.runtime.normalise import Term, query_terms, tag_key, words
from services.runtime.requests import CursorField, PageTokens, page_size, timestamp_from_unix_ms
from services.runtime.server import Runtime
from services.runtime.stores import open_store
from services.runtime.visibility import Visibility, reading_user
from services.search.indexer import start_indexer
from services.search.store import STORAGE, IndexedPhoto, SearchStore
from shutter.follow.v1 import follow_pb2_grpc
from shutter.search.v1 import search_pb2, search_pb2_grpc

MAX_TAG_CHARS = 100
MAX_TEXT_CHARS = 200
MAX_LOCATION_CHARS = 200
MAX_WORDS_PER_FIELD = 8


def validate_query(request: search_pb2.SearchPhotosRequest) -> list[Term]:
    """The terms every hit must carry; INVALID_ARGUMENT naming each bad field."""
    violations = Violations()
    if not (request.tag.strip() or request.text.strip() or request.location.strip()):
        for field in ("tag", "text", "location"):
            violations.add(field, "give at least one of tag, text or location")
        violations.raise_if_any()
    for field, value, limit in (
        ("tag", request.tag, MAX_TAG_CHARS),
        ("text", request.text, MAX_TEXT_CHARS),
        ("location", request.location, MAX_LOCATION_CHARS),
    ):
        violations.check_text(field, value, limit)
    violations.raise_if_any()  # the checks below fold the text: only text that passed the rule
    if request.tag.strip() and not tag_key(request.tag):
        violations.add("tag", "has no letters or digits")
    for field, value in (("text", request.text), ("location", request.location)):
        if value.strip() and not words(value):
            violations.add(field, "has no letters or digits")
        elif len(set(words(value))) > MAX_WORDS_PER_FIELD:
            violations.add(field, f"must have at most {MAX_WORDS_PER_FIELD} distinct words")
    violations.raise_if_any()
    return query_terms(request.tag, request.text, request.location)


def query_fingerprint(terms: list[Term]) -> str:
    digest = hashlib.sha256("\x00".join(f"{t.kind.value}:{t.text}" for t in terms).encode())
    return digest.hexdigest()[:16]


def to_hit(photo: IndexedPhoto) -> search_pb2.SearchHit:
    return search_pb2.SearchHit(
        photo_id=photo.photo_id,
        user_id=photo.user_id,
        title=photo.title,
        location=photo.location,
        tags=list(photo.tags),
        created_at=timestamp_from_unix_ms(photo.created_at_ms),
    )


class SearchService(search_pb2_grpc.SearchServiceServicer):
    def __init__(self, store: SearchStore, pages: PageTokens, visibility: Visibility) -> None:
        self._store = store
        self._visibility = visibility
        self._pages = pages

    async def SearchPhotos(
        self, request: search_pb2.SearchPhotosRequest, context: object
    ) -> search_pb2.SearchPhotosResponse:
        terms = validate_query(request)
        limit = page_size(request.page_size)
        fingerprint = query_fingerprint(terms)
        position = self._pages.decode(request, {"before": CursorField.ID, "query": CursorField.TEXT})
        before: int | None = None
        if position is not None:
            if position["query"] != fingerprint:
                raise InvalidArgument("page_token", "belongs to a different query")
            before = position["before"]
        found = await self._store.search(terms, before, limit + 1)
        page = found[:limit]
        token = ""
        if len(found) > limit:
            token = self._pages.encode(request, {"before": page[-1].photo_id, "query": fingerprint})
        # Filtered after paging, so a page may come back short; the token still moves past what was hidden.
        shown = await self._visibility.visible_authors(reading_user(), {p.user_id for p in page})
        return search_pb2.SearchPhotosResponse(
            hits=[to_hit(p) for p in page if p.user_id in shown], next_page_token=token
        )


def build(runtime: Runtime) -> None:
    store: SearchStore = open_store(runtime, STORAGE)
    start_indexer(runtime, store)
    visibility = Visibility.attach(
        runtime, runtime.channels.stub("follow", follow_pb2_grpc.FollowServiceStub, as_=SERVICE)
    )
    runtime.add_servicer(
        search_pb2_grpc.add_SearchServiceServicer_to_server,
        SearchService(store, PageTokens(runtime.settings.signing_secret()), visibility),
        search_pb2.DESCRIPTOR.services_by_name["SearchService"],
    )
