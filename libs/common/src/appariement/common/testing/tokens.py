"""Access tokens for tests of every service, signed by key pairs made once per process.

No private key is ever committed: `rsa_private_key()` / `ed25519_private_key()` generate
one the first time they are called. Point a service at the public half with
`jwt_settings_env()` (or `public_key_pem()`), then call it with `make_token(...)`:

    settings = Settings(**jwt_settings())
    headers = bearer_headers(person_id, roles=["coordinator"])
"""

import functools
import json
import uuid
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey, generate_private_key

from appariement.common.auth import Claim

TEST_ISSUER = "appariement-identity"  # the settings' defaults, so tests only set the key
TEST_AUDIENCE = "appariement"
TEST_KID = "test-rsa-1"

PrivateKey = RSAPrivateKey | Ed25519PrivateKey


@functools.cache
def rsa_private_key() -> RSAPrivateKey:
    return generate_private_key(public_exponent=65537, key_size=2048)


@functools.cache
def ed25519_private_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def new_rsa_private_key() -> RSAPrivateKey:
    """A fresh key (another signer, or the next key of a rotation)."""
    return generate_private_key(public_exponent=65537, key_size=2048)


def public_key_pem(key: PrivateKey | None = None) -> str:
    """PEM (SubjectPublicKeyInfo) of the public half of `key` (default: the RSA test key)."""
    key = key or rsa_private_key()
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def jwk(key: PrivateKey | None = None, *, kid: str = TEST_KID) -> dict[str, Any]:
    """The public JWK of `key`, with its kid and algorithm."""
    key = key or rsa_private_key()
    if isinstance(key, RSAPrivateKey):
        data = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
        data["alg"] = "RS256"
    else:
        data = json.loads(jwt.algorithms.OKPAlgorithm.to_jwk(key.public_key()))
        data["alg"] = "EdDSA"
    data["kid"] = kid
    data["use"] = "sig"
    return dict(data)


def jwks(*keys: tuple[PrivateKey, str]) -> dict[str, Any]:
    """A JWKS document: `jwks((key1, "kid1"), (key2, "kid2"))`; default: the RSA test key."""
    pairs = keys or ((rsa_private_key(), TEST_KID),)
    return {"keys": [jwk(key, kid=kid) for key, kid in pairs]}


def jwt_settings() -> dict[str, str]:
    """Settings keyword arguments that make a service trust the test tokens."""
    return {
        "jwt_public_key": public_key_pem(),
        "jwt_issuer": TEST_ISSUER,
        "jwt_audience": TEST_AUDIENCE,
    }


def jwt_settings_env() -> dict[str, str]:
    """The same as environment variables, for a service started as a subprocess."""
    return {name.upper(): value for name, value in jwt_settings().items()}


def make_token(
    sub: uuid.UUID | str | None = None,
    roles: Iterable[str] = (),
    scopes: Mapping[str, Any] | None = None,
    *,
    email: str | None = None,
    expires_in: timedelta | int = timedelta(minutes=15),
    not_before: datetime | None = None,
    issuer: str = TEST_ISSUER,
    audience: str = TEST_AUDIENCE,
    key: PrivateKey | None = None,
    kid: str | None = TEST_KID,
    extra_claims: Mapping[str, Any] | None = None,
) -> str:
    """A signed access token with the claims identity puts in real ones.

    `expires_in` may be negative (an expired token); `key` defaults to the RSA test key and
    the algorithm follows the key (RS256 or EdDSA).
    """
    key = key or rsa_private_key()
    now = datetime.now(UTC)
    lifetime = expires_in if isinstance(expires_in, timedelta) else timedelta(seconds=expires_in)
    claims: dict[str, Any] = {
        Claim.SUBJECT: str(sub if sub is not None else uuid.uuid4()),
        Claim.ROLES: sorted(str(role) for role in roles),
        Claim.SCOPES: dict(scopes or {}),
        Claim.ISSUER: issuer,
        Claim.AUDIENCE: audience,
        Claim.ISSUED_AT: now,
        Claim.EXPIRES_AT: now + lifetime,
        Claim.TOKEN_ID: uuid.uuid4().hex,
    }
    if email is not None:
        claims[Claim.EMAIL] = email
    if not_before is not None:
        claims[Claim.NOT_BEFORE] = not_before
    claims.update(extra_claims or {})
    algorithm = "RS256" if isinstance(key, RSAPrivateKey) else "EdDSA"
    headers = {"kid": kid} if kid is not None else None
    return jwt.encode(
        {str(name): value for name, value in claims.items()},
        key,
        algorithm=algorithm,
        headers=headers,
    )


def bearer_headers(
    sub: uuid.UUID | str | None = None,
    roles: Iterable[str] = (),
    scopes: Mapping[str, Any] | None = None,
    **kwargs: Any,
) -> dict[str, str]:
    """`{"Authorization": "Bearer <make_token(...)>"}` for an HTTP test client."""
    return {"Authorization": f"Bearer {make_token(sub, roles, scopes, **kwargs)}"}


__all__ = [
    "TEST_AUDIENCE",
    "TEST_ISSUER",
    "TEST_KID",
    "bearer_headers",
    "ed25519_private_key",
    "jwk",
    "jwks",
    "jwt_settings",
    "jwt_settings_env",
    "make_token",
    "new_rsa_private_key",
    "public_key_pem",
    "rsa_private_key",
]
