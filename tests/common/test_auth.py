"""Bearer tokens: who gets in, who gets 401 or 403, and key rotation through JWKS."""

import base64
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import httpx
import jwt
import pytest
from fastapi import APIRouter, Depends, FastAPI

from appariement.common.auth import (
    CurrentPrincipal,
    Principal,
    Role,
    Scope,
    TokenVerifier,
    require_roles,
)
from appariement.common.errors import AppError, Unauthorized
from appariement.common.settings import BaseServiceSettings
from appariement.common.testing.tokens import (
    TEST_AUDIENCE,
    TEST_ISSUER,
    bearer_headers,
    ed25519_private_key,
    jwks,
    jwt_settings,
    make_token,
    new_rsa_private_key,
    public_key_pem,
    rsa_private_key,
)
from appariement.common.web import create_app

router = APIRouter()


@router.get("/me")
async def me(principal: CurrentPrincipal) -> dict[str, Any]:
    return {
        "person_id": str(principal.person_id),
        "roles": sorted(principal.roles),
        "specialties": sorted(principal.scope(Scope.SPECIALTIES)),
    }


@router.get("/exports", dependencies=[Depends(require_roles(Role.COORDINATOR, Role.ARS_AGENT))])
async def exports() -> dict[str, str]:
    return {"export": "ok"}


@router.get("/tickets")
async def tickets(
    agent: Annotated[Principal, Depends(require_roles(Role.SCHOOL_AGENT))],
) -> dict[str, str]:
    return {"agent": str(agent.person_id)}


def make_app(**overrides: str) -> FastAPI:
    settings = BaseServiceSettings(environment="test", **(jwt_settings() | overrides))
    return create_app(settings, title="t", version="0", routers=[router])


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=make_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        yield c


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_a_valid_token_gives_the_principal(client: httpx.AsyncClient) -> None:
    person = uuid.uuid4()
    token = make_token(
        person, roles=["candidate"], scopes={"specialties": ["cardiologie", "neurologie"]}
    )

    response = await client.get("/me", headers=bearer(token))

    assert response.status_code == 200
    assert response.json() == {
        "person_id": str(person),
        "roles": ["candidate"],
        "specialties": ["cardiologie", "neurologie"],
    }


async def test_the_principal_carries_typed_claims() -> None:
    person = uuid.uuid4()
    verifier = TokenVerifier(
        issuer=TEST_ISSUER, audience=TEST_AUDIENCE, public_key=public_key_pem()
    )
    principal = await verifier.verify(
        make_token(
            person,
            roles=[Role.COORDINATOR],
            scopes={Scope.SUBDIVISIONS: "lyon"},
            email="dj@example.fr",
        )
    )

    assert principal.person_id == person
    assert principal.roles == frozenset({"coordinator"})
    assert principal.scope(Scope.SUBDIVISIONS) == frozenset({"lyon"})
    assert principal.scope(Scope.REGIONS) == frozenset()
    assert principal.email == "dj@example.fr"
    assert principal.token_id is not None
    assert principal.has_role("ars_agent", "coordinator")
    assert not principal.has_role("candidate")


async def test_eddsa_tokens_verify_against_an_ed25519_key() -> None:
    key = ed25519_private_key()
    verifier = TokenVerifier(
        issuer=TEST_ISSUER, audience=TEST_AUDIENCE, public_key=public_key_pem(key)
    )
    principal = await verifier.verify(make_token("p-1", roles=["supervisor"], key=key))
    assert principal.person_id == "p-1"  # not a UUID: kept as text
    # An RS256 token is refused by an EdDSA verifier, even well signed for another key.
    with pytest.raises(Unauthorized):
        await verifier.verify(make_token("p-1"))


@pytest.mark.parametrize(
    ("headers", "error", "challenge"),
    [
        ({}, "not_authenticated", "Bearer"),
        ({"Authorization": "Basic dXNlcjpwYXNz"}, "not_authenticated", "Bearer"),
        (bearer("not-a-jwt"), "invalid_token", 'Bearer error="invalid_token"'),
        (bearer(make_token(expires_in=-120)), "token_expired", 'Bearer error="invalid_token"'),
        (
            bearer(make_token(key=new_rsa_private_key())),  # signed by someone else
            "invalid_token",
            'Bearer error="invalid_token"',
        ),
        (bearer(make_token(audience="other-app")), "invalid_token", 'Bearer error="invalid_token"'),
        (bearer(make_token(issuer="someone")), "invalid_token", 'Bearer error="invalid_token"'),
        (
            bearer(make_token(not_before=datetime.now(UTC) + timedelta(hours=1))),
            "invalid_token",
            'Bearer error="invalid_token"',
        ),
    ],
    ids=[
        "missing",
        "not-bearer",
        "malformed",
        "expired",
        "bad-signature",
        "wrong-audience",
        "wrong-issuer",
        "not-yet-valid",
    ],
)
async def test_bad_or_missing_tokens_get_401_with_a_bearer_challenge(
    client: httpx.AsyncClient, headers: dict[str, str], error: str, challenge: str
) -> None:
    response = await client.get("/me", headers=headers)

    assert response.status_code == 401
    assert response.json()["error"] == error
    assert response.headers["WWW-Authenticate"] == challenge


async def test_unsigned_and_symmetric_tokens_are_refused(client: httpx.AsyncClient) -> None:
    now = int(time.time())
    claims = {
        "sub": "x",
        "iss": TEST_ISSUER,
        "aud": TEST_AUDIENCE,
        "iat": now,
        "exp": now + 300,
        "roles": ["platform_admin"],
    }
    unsigned = jwt.encode(claims, None, algorithm="none")
    # The classic confusion: HMAC "signed" with the public key as the secret (built by hand:
    # PyJWT itself refuses a PEM as an HMAC secret).
    signing_input = b".".join(
        base64.urlsafe_b64encode(json.dumps(part).encode()).rstrip(b"=")
        for part in ({"alg": "HS256", "typ": "JWT"}, claims)
    )
    mac = hmac.new(public_key_pem().encode(), signing_input, hashlib.sha256).digest()
    forged = (signing_input + b"." + base64.urlsafe_b64encode(mac).rstrip(b"=")).decode()

    for token in (unsigned, forged):
        response = await client.get("/me", headers=bearer(token))
        assert response.status_code == 401, token


async def test_a_token_without_expiry_is_refused(client: httpx.AsyncClient) -> None:
    claims = {"sub": "x", "iss": TEST_ISSUER, "aud": TEST_AUDIENCE, "iat": int(time.time())}
    eternal = jwt.encode(claims, rsa_private_key(), algorithm="RS256", headers={"kid": "k"})

    response = await client.get("/me", headers=bearer(eternal))

    assert response.status_code == 401
    assert response.json()["error"] == "invalid_token"


async def test_a_missing_role_is_403(client: httpx.AsyncClient) -> None:
    candidate = bearer(make_token(roles=["candidate"]))
    coordinator = bearer(make_token(roles=["coordinator"]))
    school_agent = bearer(make_token(roles=["school_agent"]))

    refused = await client.get("/exports", headers=candidate)
    assert refused.status_code == 403
    assert refused.json()["error"] == "missing_role"
    assert (await client.get("/exports", headers=coordinator)).status_code == 200
    assert (await client.get("/tickets", headers=coordinator)).status_code == 403
    assert (await client.get("/tickets", headers=school_agent)).status_code == 200
    assert (await client.get("/exports")).status_code == 401  # no token: 401 before 403
    with pytest.raises(ValueError, match="at least one role"):
        require_roles()


async def test_bearer_headers_authenticate_a_test_client(client: httpx.AsyncClient) -> None:
    response = await client.get("/me", headers=bearer_headers("p-9", roles=["supervisor"]))
    assert response.json()["roles"] == ["supervisor"]


async def test_without_key_configuration_authenticated_routes_answer_503() -> None:
    settings = BaseServiceSettings(environment="test", jwt_public_key=None, jwt_jwks_url=None)
    app = create_app(settings, title="t", version="0", routers=[router])
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        response = await client.get("/me", headers=bearer(make_token()))
    assert response.status_code == 503
    assert response.json()["error"] == "auth_not_configured"


class JwksServer:
    """A JWKS endpoint whose keys a test can rotate, counting fetches."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document
        self.fetches = 0
        self.down = False

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.fetches += 1
        if self.down:
            return httpx.Response(502)
        return httpx.Response(200, json=self.document)

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.MockTransport(self.handle))


def jwks_verifier(server: JwksServer, min_refresh_interval: float) -> TokenVerifier:
    return TokenVerifier(
        issuer=TEST_ISSUER,
        audience=TEST_AUDIENCE,
        jwks_url="http://identity/.well-known/jwks.json",
        jwks_client=server.client(),
        jwks_min_refresh_interval=min_refresh_interval,
    )


async def test_jwks_keys_are_cached_and_refetched_when_a_new_kid_appears() -> None:
    old, new = rsa_private_key(), new_rsa_private_key()
    server = JwksServer(jwks((old, "k1")))
    verifier = jwks_verifier(server, min_refresh_interval=0)

    await verifier.verify(make_token("a", key=old, kid="k1"))
    await verifier.verify(make_token("b", key=old, kid="k1"))
    assert server.fetches == 1  # cached

    server.document = jwks((old, "k1"), (new, "k2"))  # identity rotates its signing key
    principal = await verifier.verify(make_token("c", key=new, kid="k2"))
    assert principal.person_id == "c"
    assert server.fetches == 2
    await verifier.verify(make_token("d", key=old, kid="k1"))  # the old key still valid
    assert server.fetches == 2


async def test_unknown_kids_do_not_hammer_the_jwks_endpoint() -> None:
    server = JwksServer(jwks((rsa_private_key(), "k1")))
    verifier = jwks_verifier(server, min_refresh_interval=3600)
    await verifier.verify(make_token(kid="k1"))

    for attempt in range(3):
        with pytest.raises(Unauthorized):
            await verifier.verify(make_token(kid=f"forged-{attempt}"))

    assert server.fetches == 1


async def test_a_kid_must_match_its_key() -> None:
    server = JwksServer(jwks((rsa_private_key(), "k1"), (ed25519_private_key(), "k2")))
    verifier = jwks_verifier(server, min_refresh_interval=0)

    assert (await verifier.verify(make_token("e", key=ed25519_private_key(), kid="k2"))).roles == (
        frozenset()
    )
    with pytest.raises(Unauthorized):  # RS256 token naming the Ed25519 key
        await verifier.verify(make_token("e", kid="k2"))
    with pytest.raises(Unauthorized):  # no kid while two keys could match
        await verifier.verify(make_token("e", kid=None))


async def test_jwks_unreachable_before_any_key_is_a_503() -> None:
    server = JwksServer(jwks())
    server.down = True
    verifier = jwks_verifier(server, min_refresh_interval=0)

    with pytest.raises(AppError) as caught:
        await verifier.verify(make_token())
    assert caught.value.status_code == 503
    assert caught.value.error_code == "auth_unavailable"


async def test_jwks_outage_keeps_the_cached_keys() -> None:
    server = JwksServer(jwks())
    verifier = jwks_verifier(server, min_refresh_interval=0)
    await verifier.verify(make_token())
    server.down = True

    assert (await verifier.verify(make_token("still-in"))).person_id == "still-in"
    with pytest.raises(Unauthorized):
        await verifier.verify(make_token(kid="rotated-while-down"))


def test_verifier_from_settings_needs_exactly_one_source() -> None:
    no_key = BaseServiceSettings(environment="test", jwt_public_key=None, jwt_jwks_url=None)
    assert TokenVerifier.from_settings(no_key) is None
    pem_settings = BaseServiceSettings(environment="test", **jwt_settings())
    assert TokenVerifier.from_settings(pem_settings) is not None
    with pytest.raises(ValueError, match="exactly one"):
        TokenVerifier(issuer="i", audience="a")
