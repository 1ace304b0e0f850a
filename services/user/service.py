"""UserService handlers: sign-up, profiles, sign-in and account deletion.

Handlers validate, authorise (a profile is changed or deleted only by its owner), call the store
and emit events; storage lives in store.py/sqlite.py and the rules of a valid account in rules.py.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator

import grpc
from google.protobuf.timestamp_pb2 import Timestamp

from services.runtime import callctx
from services.runtime.channels import SERVICE
from services.runtime.errors import InvalidArgument, NotFound, Unauthenticated, Violations
from services.runtime.events import new_meta
from services.runtime.requests import CursorField, PageTokens, page_size, require_id, timestamp_from_unix_ms
from services.runtime.server import Runtime
from services.runtime.stores import open_store
from services.runtime.text import text_problem
from services.runtime.visibility import Relationship, Verdict, Visibility, reading_user, verdict
from services.user import avatars, names, rules
from services.user.passwords import Passwords, hasher_for
from services.user.settings import TEST_PROFILE, SignInSettings, UserSettings
from services.user.signin import SignInGuard
from services.user.store import STORAGE, ProfileChange, UsernameTaken, UserRecord, UserStore
from shutter.events.v1 import events_pb2
from shutter.follow.v1 import follow_pb2_grpc
from shutter.user.v1 import user_pb2, user_pb2_grpc

_AVATAR_CHUNK = 64 * 1024
MAX_QUERY_CHARS = 64
log = logging.getLogger("shutter.user")

MAX_BATCH_USERS = 500
UPDATABLE_PATHS = ("display_name", "bio")
WRONG_CREDENTIALS = "wrong username or password"


def to_proto(user: UserRecord, avatar_version: int = 0) -> user_pb2.User:
    return user_pb2.User(
        user_id=user.user_id,
        username=user.username,
        display_name=user.display_name,
        bio=user.bio,
        created_at=timestamp_from_unix_ms(user.created_at_ms),
        avatar_url=avatars.avatar_url(user.user_id, avatar_version, user_pb2.AVATAR_SIZE_LARGE)
        if avatar_version
        else "",
        avatar_small_url=(
            avatars.avatar_url(user.user_id, avatar_version, user_pb2.AVATAR_SIZE_SMALL) if avatar_version else ""
        ),
    )


def _raise_problems(*checks: tuple[str, str | None]) -> None:
    """INVALID_ARGUMENT naming every field whose check found a problem."""
    problems = Violations()
    for field, problem in checks:
        if problem:
            problems.add(field, problem)
    problems.raise_if_any()


class UserService(user_pb2_grpc.UserServiceServicer):
    def __init__(
        self, runtime: Runtime, store: UserStore, passwords: Passwords, signin: SignInGuard, visibility: Visibility
    ) -> None:
        self._runtime = runtime
        self._pages = PageTokens(runtime.settings.signing_secret())
        self._visibility = visibility
        self._store = store
        self._passwords = passwords
        self._signin = signin

    async def CreateUser(
        self, request: user_pb2.CreateUserRequest, context: grpc.aio.ServicerContext
    ) -> user_pb2.CreateUserResponse:
        _raise_problems(
            ("username", rules.username_problem(request.username)),
            ("display_name", rules.display_name_problem(request.display_name)),
            ("bio", rules.bio_problem(request.bio)),
            ("password", rules.password_problem(request.password)),
        )
        # A cheap early answer; the store re-checks inside the write, which settles races.
        if await self._store.username_taken(rules.username_key(request.username)):
            raise UsernameTaken(request.username)
        password_hash = await self._passwords.hash(request.password)
        user = UserRecord(
            user_id=self._runtime.ids.next_id(),
            username=request.username,
            display_name=request.display_name,
            bio=request.bio,
            created_at_ms=int(time.time() * 1000),
        )
        await self._store.create(user, password_hash)  # UsernameTaken: ALREADY_EXISTS
        return user_pb2.CreateUserResponse(user=to_proto(user))

    async def GetUser(
        self, request: user_pb2.GetUserRequest, context: grpc.aio.ServicerContext
    ) -> user_pb2.GetUserResponse:
        user = await self._store.get(require_id(request.user_id, "user_id"))
        if user is None:
            raise NotFound(f"user {request.user_id} not found")
        return user_pb2.GetUserResponse(user=await self._profile(user))

    async def GetUserByUsername(
        self, request: user_pb2.GetUserByUsernameRequest, context: grpc.aio.ServicerContext
    ) -> user_pb2.GetUserByUsernameResponse:
        problem = rules.username_problem(request.username)
        if problem:
            raise InvalidArgument("username", problem)
        user = await self._store.get_by_username(rules.username_key(request.username))
        if user is None:
            raise NotFound(f"username {request.username!r} not found")
        return user_pb2.GetUserByUsernameResponse(user=await self._profile(user))

    async def _profile(self, user: UserRecord) -> user_pb2.User:
        """A profile as the caller may see it (services.runtime.visibility): NOT_FOUND between blocked users; a
        private account's profile shows its name (and avatar) only to those who do not follow it."""
        found = Verdict.VISIBLE
        viewer = reading_user()
        if viewer is not None:
            found = await self._visibility.check(viewer, user.user_id)
        if found is Verdict.BLOCKED:
            raise NotFound(f"user {user.user_id} not found")
        profile = await self._with_avatar(user)
        if found is Verdict.PRIVATE:
            profile.ClearField("bio")
        return profile

    async def BatchGetUsers(
        self, request: user_pb2.BatchGetUsersRequest, context: grpc.aio.ServicerContext
    ) -> user_pb2.BatchGetUsersResponse:
        """Profiles as the calling user may see them (services calling as themselves get every one): a user who
        blocked the caller is left out; a private account the caller does not follow shows its name and avatar
        only, as GetUser does. Unlike GetUser, a user the caller blocked is named (name and avatar only): a batch
        names people the caller already holds ids of, like the caller's own list of blocked accounts."""
        if len(request.user_ids) + len(request.usernames) > MAX_BATCH_USERS:
            raise InvalidArgument("user_ids", f"at most {MAX_BATCH_USERS} ids and usernames per call")
        for user_id in request.user_ids:
            require_id(user_id, "user_ids")
        _raise_problems(
            *((f"usernames[{n}]", rules.username_problem(name)) for n, name in enumerate(request.usernames))
        )
        wanted = list(dict.fromkeys(request.user_ids))
        found = await self._store.get_many(wanted) if wanted else {}
        users = [found[i] for i in wanted if i in found]
        names = list(dict.fromkeys(rules.username_key(name) for name in request.usernames))
        # One point read per name, concurrently: usernames are a caption's few mentions, not a page of ids.
        for user in await asyncio.gather(*(self._store.get_by_username(name) for name in names)):
            if user is not None and user.user_id not in {u.user_id for u in users}:
                users.append(user)
        return user_pb2.BatchGetUsersResponse(users=await self._as_seen(users))

    async def _as_seen(self, users: list[UserRecord]) -> list[user_pb2.User]:
        """`users` as the calling user may see them (see BatchGetUsers), with their avatars. Costs one local read
        of the avatars' versions and the caller's relationships to them: a share of one batched, cached lookup
        (services.runtime.visibility), both for the whole list, none per user."""
        if not users:
            return []
        viewer = reading_user()
        ids = [user.user_id for user in users]
        facts: dict[tuple[int, int], Relationship] = {}
        if viewer is None:
            versions = await self._store.avatar_versions(ids)
        else:
            versions, facts = await asyncio.gather(
                self._store.avatar_versions(ids), self._visibility.relationships([(viewer, i) for i in ids])
            )
        listed = []
        for user in users:
            profile = to_proto(user, versions.get(user.user_id, 0))
            if viewer is not None:
                relationship = facts[(viewer, user.user_id)]
                if relationship.blocked_by_author:
                    continue  # they blocked the caller: left out, as GetUser answers NOT_FOUND
                if verdict(viewer, user.user_id, relationship) is not Verdict.VISIBLE:
                    profile.ClearField("bio")  # a private account, or one the caller blocked: name and avatar
            listed.append(profile)
        return listed

    async def SearchUsers(
        self, request: user_pb2.SearchUsersRequest, context: grpc.aio.ServicerContext
    ) -> user_pb2.SearchUsersResponse:
        _raise_problems(("query", text_problem(request.query, MAX_QUERY_CHARS)))
        prefix = names.query_prefix(request.query)
        if len(prefix) < names.MIN_PREFIX_CHARS:
            raise InvalidArgument("query", f"must have at least {names.MIN_PREFIX_CHARS} characters besides '@'")
        limit = page_size(request.page_size)
        position = self._pages.decode(request, {"q": CursorField.TEXT, "t": CursorField.TEXT, "u": CursorField.ID})
        if position is not None and position["q"] != prefix:
            raise InvalidArgument("page_token", "belongs to another query")
        after = (position["t"], position["u"]) if position is not None else None
        found = await self._store.search_names(prefix, after, limit + 1)
        page = found[:limit]
        token = ""
        if len(found) > limit:
            token = self._pages.encode(request, {"q": prefix, "t": page[-1][0], "u": page[-1][1]})
        ids = [user_id for _, user_id in page]
        users = await self._store.get_many(ids)
        # A name row can outlive its account by a moment (the account's delete removes it): left out. So is
        # anyone who blocked the caller, as in BatchGetUsers (a page may then hold fewer; the token still pages).
        listed = await self._as_seen([users[i] for i in dict.fromkeys(ids) if i in users])
        return user_pb2.SearchUsersResponse(users=listed, next_page_token=token)

    async def UpdateUser(
        self, request: user_pb2.UpdateUserRequest, context: grpc.aio.ServicerContext
    ) -> user_pb2.UpdateUserResponse:
        require_id(request.user_id, "user_id")
        callctx.require_user(request.user_id, "user_id")
        paths = list(request.update_mask.paths) or list(UPDATABLE_PATHS)
        unknown = [path for path in paths if path not in UPDATABLE_PATHS]
        if unknown:
            raise InvalidArgument("update_mask", f"unknown paths {unknown}; updatable: {list(UPDATABLE_PATHS)}")
        _raise_problems(
            ("display_name", rules.display_name_problem(request.display_name) if "display_name" in paths else None),
            ("bio", rules.bio_problem(request.bio) if "bio" in paths else None),
        )
        change = ProfileChange(
            display_name=request.display_name if "display_name" in paths else None,
            bio=request.bio if "bio" in paths else None,
        )
        user = await self._store.update(request.user_id, change)
        if user is None:
            raise NotFound(f"user {request.user_id} not found")
        return user_pb2.UpdateUserResponse(user=await self._with_avatar(user))

    async def UploadAvatar(
        self, request_iterator: AsyncIterator[user_pb2.UploadAvatarRequest], context: grpc.aio.ServicerContext
    ) -> user_pb2.UploadAvatarResponse:
        user_id, data = await avatars.read_upload(request_iterator)
        user_id = callctx.acting_as(user_id, "metadata.user_id")  # unset: the caller
        renditions = await avatars.render(data)
        version = self._runtime.ids.next_id()
        if not await self._store.set_avatar(user_id, version, renditions):
            raise NotFound(f"user {user_id} not found")
        user = await self._store.get(user_id)
        if user is None:
            raise NotFound(f"user {user_id} not found")
        return user_pb2.UploadAvatarResponse(user=to_proto(user, version))

    async def DownloadAvatar(
        self, request: user_pb2.DownloadAvatarRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[user_pb2.DownloadAvatarResponse]:
        user_id = require_id(request.user_id, "user_id")
        size = avatars.SIZES.get(request.size or user_pb2.AVATAR_SIZE_LARGE)
        if size is None:
            raise InvalidArgument("size", "is not a known avatar size")
        image = await self._store.avatar(user_id, size)
        if image is None:
            raise NotFound(f"user {user_id} has no profile picture")
        info = user_pb2.AvatarInfo(content_type=image.content_type, byte_size=len(image.data), sha256=image.sha256)
        yield user_pb2.DownloadAvatarResponse(info=info)
        for start in range(0, len(image.data), _AVATAR_CHUNK):
            yield user_pb2.DownloadAvatarResponse(chunk=image.data[start : start + _AVATAR_CHUNK])

    async def _with_avatar(self, user: UserRecord) -> user_pb2.User:
        versions = await self._store.avatar_versions([user.user_id])
        return to_proto(user, versions.get(user.user_id, 0))

    async def DeleteUser(
        self, request: user_pb2.DeleteUserRequest, context: grpc.aio.ServicerContext
    ) -> user_pb2.DeleteUserResponse:
        require_id(request.user_id, "user_id")
        callctx.require_user(request.user_id, "user_id")
        event = events_pb2.UserDeleted(meta=new_meta(self._runtime.ids, self._runtime.name), user_id=request.user_id)
        if not await self._store.delete(request.user_id, event):
            raise NotFound(f"user {request.user_id} not found")
        return user_pb2.DeleteUserResponse()

    async def Authenticate(
        self, request: user_pb2.AuthenticateRequest, context: grpc.aio.ServicerContext
    ) -> user_pb2.AuthenticateResponse:
        problems = Violations()
        problems.check(bool(request.username), "username", "is required")
        problems.check(bool(request.password), "password", "is required")
        problems.check(
            len(request.password) <= rules.MAX_PASSWORD_CHARS,
            "password",
            f"must be at most {rules.MAX_PASSWORD_CHARS} characters",
        )
        problems.raise_if_any()
        valid_name = rules.username_problem(request.username) is None
        key = rules.username_key(request.username) if valid_name else request.username
        await self._signin.check(key)  # before any lookup: a refusal says nothing about the account
        try:
            return await self._authenticate(key, request.password, valid_name)
        except Unauthenticated:
            await self._signin.failed(key)
            raise

    async def _authenticate(self, key: str, password: str, valid_name: bool) -> user_pb2.AuthenticateResponse:
        if not valid_name:
            # No such account can exist; don't look it up (an oversized key would fail in the store),
            # but take as long as a real miss so the answer's timing says nothing.
            await self._passwords.verify(None, password)
            raise Unauthenticated(WRONG_CREDENTIALS)
        credentials = await self._store.credentials(key)
        # Always verify (against a dummy hash when the name is unknown) so both misses take as long.
        stored_hash = credentials.password_hash if credentials else None
        if not await self._passwords.verify(stored_hash, password) or credentials is None:
            raise Unauthenticated(WRONG_CREDENTIALS)
        user = await self._store.get(credentials.user_id)
        if user is None:  # deleted between the two reads
            raise Unauthenticated(WRONG_CREDENTIALS)
        if self._passwords.needs_rehash(credentials.password_hash):
            new_hash = await self._passwords.hash(password)
            await self._store.set_password_hash(key, user.user_id, new_hash)
        await self._signin.succeeded(key)
        token, expires = self._runtime.tokens.issue_user_token(user.user_id)
        expires_at = Timestamp()
        expires_at.FromDatetime(expires)
        return user_pb2.AuthenticateResponse(access_token=token, expires_at=expires_at, user=to_proto(user))


def build(runtime: Runtime) -> None:
    store: UserStore = open_store(runtime, STORAGE)
    settings = runtime.section(UserSettings)
    if settings.password_hash_profile == TEST_PROFILE:
        log.warning("passwords are hashed with the test-only profile: fine for a test mesh, never for real accounts")
    passwords = Passwords(threads=settings.password_hash_threads, hasher=hasher_for(settings.password_hash_profile))
    runtime.add_component(passwords)
    visibility = Visibility.attach(
        runtime, runtime.channels.stub("follow", follow_pb2_grpc.FollowServiceStub, as_=SERVICE)
    )
    signin = SignInGuard(runtime.limiter(), runtime.section(SignInSettings))
    service = UserService(runtime, store, passwords, signin, visibility)
    runtime.add_servicer(
        user_pb2_grpc.add_UserServiceServicer_to_server, service, user_pb2.DESCRIPTOR.services_by_name["UserService"]
    )
