"""A caption's #hashtags and @mentions, parsed the way search folds text (services.runtime.normalise).

Hashtags join the post's tags (searchable; a hashtag's page is SearchPhotos by tag); mentions are resolved
to users with one BatchGetUsers call, and a mention of no one is the caption's fault (INVALID_ARGUMENT
naming metadata.caption), so a typo is caught while the author is still there to fix it.
"""

from __future__ import annotations

from services.photo.validation import MAX_TAG_CHARS, MAX_TAGS
from services.runtime.errors import InvalidArgument, Violations
from services.runtime.normalise import hashtags, mentions, tag_key
from shutter.photo.v1 import photo_pb2
from shutter.user.v1 import user_pb2, user_pb2_grpc

MAX_MENTIONS = 20
FIELD = "metadata.caption"


class Captions:
    def __init__(self, users: user_pb2_grpc.UserServiceStub | None) -> None:
        self._users = users

    async def parse(
        self, metadata: photo_pb2.PhotoMetadata, field: str = FIELD
    ) -> tuple[tuple[str, ...], tuple[int, ...]]:
        """The post's tags (metadata.tags, then the caption's hashtags, once per tag key) and the ids of the
        users the caption mentions; errors name `field`. No call is made for a caption without mentions."""
        tags = tuple(merged_tags(list(metadata.tags), metadata.caption, field))
        names = mentions(metadata.caption)
        if not names:
            return tags, ()
        if len(names) > MAX_MENTIONS:
            raise InvalidArgument(field, f"mentions more than {MAX_MENTIONS} people")
        if self._users is None:
            raise InvalidArgument(field, "mentions cannot be resolved here")
        reply = await self._users.BatchGetUsers(user_pb2.BatchGetUsersRequest(usernames=names))
        found = {user.username.lower(): user.user_id for user in reply.users}
        missing = [name for name in names if name not in found]
        if missing:
            raise InvalidArgument(field, f"mentions {', '.join('@' + n for n in missing)}: no such user")
        return tags, tuple(found[name] for name in names)


def merged_tags(tags: list[str], caption: str, field: str = FIELD) -> list[str]:
    """The post's tags, then the caption's hashtags not already among them; INVALID_ARGUMENT naming the
    caption when its hashtags make too many tags or one too long."""
    violations = Violations()
    keys = {tag_key(tag) for tag in tags}
    merged = list(tags)
    for tag in hashtags(caption):
        if len(tag) > MAX_TAG_CHARS:
            violations.add(field, f"has a hashtag longer than {MAX_TAG_CHARS} characters")
            break
        if tag_key(tag) not in keys:
            keys.add(tag_key(tag))
            merged.append(tag)
    if len(merged) > MAX_TAGS:
        violations.add(field, f"its hashtags and the tags make more than {MAX_TAGS} tags")
    violations.raise_if_any()
    return merged
