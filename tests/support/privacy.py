"""The authorization matrix's one table, its scenes, and the social-graph helpers privacy tests share.

EXPECTED says, for every read RPC and every relationship of a viewer to an author, what the viewer gets:
the tests over gRPC (tests/integration/test_visibility_matrix.py) and over HTTP
(tests/e2e/test_visibility_matrix_http.py) are both generated from it, so they cannot disagree.

Answers:
  SHOWN      OK, and the author's photo is in the answer
  HIDDEN     OK, and it is not (left out of a list, a batch or a feed)
  OK         OK (a single item, or an answer that carries no photo: counts, followers)
  NOT_FOUND  as for something that does not exist: content the viewer may not see, and anything between
             blocked users (PERMISSION_DENIED would reveal that the photo, or the account, is there).
             Likes and comments of a photo that does not exist have always answered "none" rather than
             NOT_FOUND, so those of a photo the viewer may not see answer "none" (HIDDEN) too.
  DENIED     PERMISSION_DENIED: the listings of a private account the viewer does not follow (the account's
             existence and name are public, as on Instagram)
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass

from shutter.comment.v1 import comment_pb2, comment_pb2_grpc
from shutter.follow.v1 import follow_pb2, follow_pb2_grpc
from shutter.like.v1 import like_pb2, like_pb2_grpc
from shutter.photo.v1 import photo_pb2
from tests.support.mesh import Mesh
from tests.support.photos import make_jpeg, upload
from tests.support.users import SignedUp, sign_up, unique_username

SHOWN, HIDDEN, OK, NOT_FOUND, DENIED = "SHOWN", "HIDDEN", "OK", "NOT_FOUND", "DENIED"

STATES = (
    "public",  # the viewer follows a public author
    "private_approved",  # an approved follower of a private author
    "private_not_approved",  # a stranger to a private author
    "pending",  # the viewer's follow request awaits the private author
    "blocked_by_author",  # the viewer followed, then the author blocked them
    "blocked_by_viewer",  # the viewer followed, then blocked the author
    "muted",  # the viewer follows a public author and muted them
)

# fmt: off
EXPECTED: dict[str, tuple[str, ...]] = {
    #                          public  approved not_appr. pending  blk_auth   blk_view   muted
    "photo.GetPhoto":         (OK,     OK,      NOT_FOUND, NOT_FOUND, NOT_FOUND, NOT_FOUND, OK),
    "photo.BatchGetPhotos":   (SHOWN,  SHOWN,   HIDDEN,    HIDDEN,    HIDDEN,    HIDDEN,    SHOWN),
    "photo.DownloadPhoto":    (OK,     OK,      NOT_FOUND, NOT_FOUND, NOT_FOUND, NOT_FOUND, OK),
    "photo.ListUserPhotos":   (SHOWN,  SHOWN,   DENIED,    DENIED,    NOT_FOUND, NOT_FOUND, SHOWN),
    "view.ViewPhoto":         (OK,     OK,      NOT_FOUND, NOT_FOUND, NOT_FOUND, NOT_FOUND, OK),
    "view.ViewUserPhotos":    (SHOWN,  SHOWN,   DENIED,    DENIED,    NOT_FOUND, NOT_FOUND, SHOWN),
    "feed.GetFeed":           (SHOWN,  SHOWN,   HIDDEN,    HIDDEN,    HIDDEN,    HIDDEN,    HIDDEN),
    "follow.ListFollowers":   (OK,     OK,      DENIED,    DENIED,    NOT_FOUND, NOT_FOUND, OK),
    "follow.ListFollowees":   (OK,     OK,      DENIED,    DENIED,    NOT_FOUND, NOT_FOUND, OK),
    "follow.GetFollowCounts": (OK,     OK,      OK,        OK,        NOT_FOUND, NOT_FOUND, OK),
    "follow.CheckFollowing":  (OK,     OK,      DENIED,    DENIED,    NOT_FOUND, NOT_FOUND, OK),
    "like.GetLikeSummary":    (SHOWN,  SHOWN,   HIDDEN,    HIDDEN,    HIDDEN,    HIDDEN,    SHOWN),
    "like.BatchGetLikeSummaries": (SHOWN, SHOWN, HIDDEN,   HIDDEN,    HIDDEN,    HIDDEN,    SHOWN),
    "like.ListLikers":        (SHOWN,  SHOWN,   HIDDEN,    HIDDEN,    HIDDEN,    HIDDEN,    SHOWN),
    "comment.ListComments":   (SHOWN,  SHOWN,   HIDDEN,    HIDDEN,    HIDDEN,    HIDDEN,    SHOWN),
    "comment.BatchGetCommentCounts": (SHOWN, SHOWN, HIDDEN, HIDDEN,  HIDDEN,    HIDDEN,    SHOWN),
    "search.SearchPhotos":    (SHOWN,  SHOWN,   HIDDEN,    HIDDEN,    HIDDEN,    HIDDEN,    SHOWN),
    # SHOWN: the whole profile; HIDDEN: name (and avatar) only, the bio left out.
    "user.GetUser":           (SHOWN,  SHOWN,   HIDDEN,    HIDDEN,    NOT_FOUND, NOT_FOUND, SHOWN),
    # As GetUser, NOT_FOUND being "left out of the answer"; but one the viewer blocked is named (bio left out),
    # as the viewer's own list of blocked accounts needs.
    "user.BatchGetUsers":     (SHOWN,  SHOWN,   HIDDEN,    HIDDEN,    NOT_FOUND, HIDDEN,    SHOWN),
}
# fmt: on

CASES = [
    (rpc, state, answer) for rpc, answers in EXPECTED.items() for state, answer in zip(STATES, answers, strict=True)
]


def case_id(rpc: str, state: str, answer: str) -> str:
    return f"{rpc}-{state}-{answer}"


def follows(mesh: Mesh) -> follow_pb2_grpc.FollowServiceStub:
    return follow_pb2_grpc.FollowServiceStub(mesh.channel("follow"))


async def set_private(mesh: Mesh, user: SignedUp, private: bool = True) -> follow_pb2.SetAccountPrivacyResponse:
    return await follows(mesh).SetAccountPrivacy(
        follow_pb2.SetAccountPrivacyRequest(private=private), metadata=user.metadata, timeout=10
    )


async def block(mesh: Mesh, blocker: SignedUp, blocked: SignedUp) -> follow_pb2.BlockUserResponse:
    return await follows(mesh).BlockUser(
        follow_pb2.BlockUserRequest(blocked_id=blocked.user_id), metadata=blocker.metadata, timeout=10
    )


async def mute(mesh: Mesh, muter: SignedUp, muted: SignedUp) -> follow_pb2.MuteUserResponse:
    return await follows(mesh).MuteUser(
        follow_pb2.MuteUserRequest(muted_id=muted.user_id), metadata=muter.metadata, timeout=10
    )


async def approve(mesh: Mesh, owner: SignedUp, requester: SignedUp) -> follow_pb2.ApproveFollowRequestResponse:
    return await follows(mesh).ApproveFollowRequest(
        follow_pb2.ApproveFollowRequestRequest(requester_id=requester.user_id), metadata=owner.metadata, timeout=10
    )


@dataclass(frozen=True)
class Scene:
    """A viewer related to an author as `state` says, and one photo the author posted (tagged `tag`, liked and
    commented on by its author), and the author's bio."""

    state: str
    viewer: SignedUp
    author: SignedUp
    photo: photo_pb2.Photo
    tag: str

    @property
    def bio(self) -> str:
        return self.author.user.bio


async def make_scene(mesh: Mesh, state: str, wait_in_feed: object) -> Scene:
    """Build one state. `wait_in_feed(viewer, photo_id)` waits until the photo is in the viewer's feed: the
    states that end with a block or a mute first see the photo arrive, so its absence afterwards is the
    policy's doing, not a fan-out that has not happened yet."""
    viewer, author = await asyncio.gather(
        sign_up(mesh, unique_username(state[:8]), sign_in=False),
        sign_up(mesh, unique_username(state[:8]), bio=f"the bio of a {state} author", sign_in=False),
    )
    if state in ("private_approved", "private_not_approved", "pending"):
        await set_private(mesh, author)
    if state in ("public", "blocked_by_author", "blocked_by_viewer", "muted"):
        await viewer.follow(mesh, author)
    if state in ("private_approved", "pending"):
        reply = await viewer.follow(mesh, author)
        assert reply.pending and not reply.created
    if state == "private_approved":
        await approve(mesh, author, viewer)
    tag = f"m{uuid.uuid4().hex[:12]}"
    photo = await upload(mesh, author.token, author.user_id, make_jpeg(24, 16), title=f"matrix {state}", tags=[tag])
    await like_pb2_grpc.LikeServiceStub(mesh.channel("like")).LikePhoto(
        like_pb2.LikePhotoRequest(photo_id=photo.photo_id), metadata=author.metadata, timeout=10
    )
    await comment_pb2_grpc.CommentServiceStub(mesh.channel("comment")).PostComment(
        comment_pb2.PostCommentRequest(photo_id=photo.photo_id, text="mine"), metadata=author.metadata, timeout=10
    )
    if state in ("blocked_by_author", "blocked_by_viewer", "muted"):
        await wait_in_feed(viewer, photo.photo_id)  # type: ignore[operator]
    if state == "blocked_by_author":
        await block(mesh, author, viewer)
    elif state == "blocked_by_viewer":
        await block(mesh, viewer, author)
    elif state == "muted":
        await mute(mesh, viewer, author)
    return Scene(state, viewer, author, photo, tag)
