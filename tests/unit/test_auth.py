import time

import jwt
import pytest

from services.runtime import auth
from services.runtime.auth import TokenAuthority, bearer_token, is_public
from services.runtime.errors import Unauthenticated

SECRET = "s" * 40


def test_user_token_round_trip() -> None:
    authority = TokenAuthority(SECRET, 60)
    token, expires = authority.issue_user_token(1234)
    principal = authority.verify(token)
    assert principal.user_id == 1234 and principal.service is None
    assert expires.timestamp() > time.time()


def test_service_token_is_not_a_user() -> None:
    authority = TokenAuthority(SECRET, 60)
    principal = authority.verify(authority.issue_service_token("feed"))
    assert principal.service == "feed" and principal.user_id is None


def test_forged_and_expired_tokens_are_rejected() -> None:
    authority = TokenAuthority(SECRET, 60)
    forged = TokenAuthority("t" * 40, 60).issue_user_token(1)[0]
    with pytest.raises(Unauthenticated, match="invalid"):
        authority.verify(forged)
    none_alg = jwt.encode({"iss": "shutter", "sub": "user:1", "exp": time.time() + 60}, key=None, algorithm="none")
    with pytest.raises(Unauthenticated):
        authority.verify(none_alg)
    expired = jwt.encode({"iss": "shutter", "sub": "user:1", "exp": int(time.time()) - 5}, SECRET, algorithm="HS256")
    with pytest.raises(Unauthenticated, match="expired"):
        authority.verify(expired)


def test_bearer_metadata_parsing() -> None:
    assert bearer_token((("authorization", "Bearer abc"),)) == "abc"
    assert bearer_token((("x-other", "1"),)) is None
    with pytest.raises(Unauthenticated):
        bearer_token((("authorization", "Basic abc"),))


def test_only_sign_up_sign_in_health_and_reflection_are_public() -> None:
    assert is_public("/shutter.user.v1.UserService/Authenticate")
    assert is_public("/grpc.health.v1.Health/Check")
    assert is_public("/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo")
    assert not is_public("/shutter.user.v1.UserService/DeleteUser")
    assert not is_public("/shutter.photo.v1.PhotoService/GetPhoto")


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def test_a_verified_token_is_remembered_until_it_expires() -> None:
    clock = Clock()
    authority = TokenAuthority(SECRET, 60, clock=clock)
    token = authority.issue_user_token(42)[0]
    first = authority.verify(token)
    assert authority.verify(token) is first  # the remembered principal, no second signature check
    clock.now += 61
    with pytest.raises(Unauthenticated, match="expired"):
        authority.verify(token)


def test_remembering_a_token_trusts_only_its_exact_bytes() -> None:
    authority = TokenAuthority(SECRET, 60)
    token = authority.issue_user_token(42)[0]
    authority.verify(token)
    header, _payload, signature = token.split(".")
    other_user = jwt.encode({"iss": "shutter", "sub": "user:43", "exp": int(time.time()) + 60}, "t" * 40, "HS256")
    with pytest.raises(Unauthenticated, match="invalid"):
        authority.verify(f"{header}.{other_user.split('.')[1]}.{signature}")
    with pytest.raises(Unauthenticated, match="invalid"):
        authority.verify(token[:-2] + ("AA" if token[-2:] != "AA" else "BB"))
    assert authority.verify(token).user_id == 42


def test_the_memory_of_verified_tokens_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(auth, "VERIFIED_TOKENS", 3)
    authority = TokenAuthority(SECRET, 60)
    tokens = [authority.issue_user_token(user)[0] for user in range(1, 6)]
    for token in tokens:
        authority.verify(token)
    assert list(authority._verified) == tokens[2:]
    assert authority.verify(tokens[0]).user_id == 1  # forgotten, so checked again, and still good
