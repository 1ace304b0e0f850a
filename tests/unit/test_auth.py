import time

import jwt
import pytest

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
