"""Bearer-token verification: who is calling, with which roles and scopes.

The identity service signs access tokens (RS256 or EdDSA); every service verifies them with
the identity service's public key, given in settings as a PEM or fetched from its JWKS URL
(cached; refetched when a token names a key id we do not know, i.e. after a key rotation).
Route handlers receive a `Principal` through the `CurrentPrincipal` dependency or
`require_roles(...)`; a missing or bad token answers 401 with `WWW-Authenticate: Bearer`,
a missing role 403, both in the common error shape.
"""

import asyncio
import time
import uuid
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Annotated, Any

import httpx
import jwt
import structlog
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from appariement.common.errors import Forbidden, ServiceUnavailable, Unauthorized
from appariement.common.settings import BaseServiceSettings

log = structlog.get_logger(__name__)


class Claim(StrEnum):
    """The claim names of an access token: identity writes them, every service reads them."""

    SUBJECT = "sub"  # the person's id (UUID as text)
    ROLES = "roles"  # list of Role values
    SCOPES = "scopes"  # {"specialties": [...], "subdivisions": [...], ...}
    EMAIL = "email"  # the email used to log in (optional)
    ISSUER = "iss"
    AUDIENCE = "aud"
    EXPIRES_AT = "exp"
    ISSUED_AT = "iat"
    NOT_BEFORE = "nbf"
    TOKEN_ID = "jti"


class Role(StrEnum):
    """Roles named in the design (DESIGN.md §1); a token's `roles` claim holds these values."""

    CANDIDATE = "candidate"
    SUPERVISOR = "supervisor"
    COORDINATOR = "coordinator"
    ARS_AGENT = "ars_agent"
    SCHOOL_AGENT = "school_agent"
    PLATFORM_ADMIN = "platform_admin"


class Scope(StrEnum):
    """Keys of the `scopes` claim: what part of the country/training a role applies to."""

    SPECIALTIES = "specialties"
    SUBDIVISIONS = "subdivisions"
    REGIONS = "regions"


SUPPORTED_ALGORITHMS = ("RS256", "EdDSA")


@dataclass(frozen=True)
class Principal:
    """The verified caller. `person_id` is a UUID when the subject parses as one."""

    person_id: uuid.UUID | str
    roles: frozenset[str] = frozenset()
    scopes: Mapping[str, Any] = field(default_factory=dict)
    email: str | None = None
    token_id: str | None = None
    claims: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def has_role(self, *roles: str) -> bool:
        """True when the caller holds at least one of `roles`."""
        return not self.roles.isdisjoint(roles)

    def scope(self, name: str) -> frozenset[str]:
        """The values of one scope (`principal.scope(Scope.SPECIALTIES)`), empty if absent."""
        value = self.scopes.get(name)
        if value is None:
            return frozenset()
        if isinstance(value, str):
            return frozenset({value})
        return frozenset(str(item) for item in value)

    @classmethod
    def from_claims(cls, claims: Mapping[str, Any]) -> "Principal":
        subject = str(claims[Claim.SUBJECT])
        try:
            person_id: uuid.UUID | str = uuid.UUID(subject)
        except ValueError:
            person_id = subject
        roles = claims.get(Claim.ROLES) or []
        scopes = claims.get(Claim.SCOPES) or {}
        if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
            raise jwt.InvalidTokenError("roles claim must be a list of strings")
        if not isinstance(scopes, dict):
            raise jwt.InvalidTokenError("scopes claim must be an object")
        email = claims.get(Claim.EMAIL)
        jti = claims.get(Claim.TOKEN_ID)
        return cls(
            person_id=person_id,
            roles=frozenset(roles),
            scopes=MappingProxyType(dict(scopes)),
            email=str(email) if email is not None else None,
            token_id=str(jti) if jti is not None else None,
            claims=dict(claims),
        )


def _algorithm_for(key: Any) -> str:
    if isinstance(key, RSAPublicKey):
        return "RS256"
    if isinstance(key, Ed25519PublicKey):
        return "EdDSA"
    raise ValueError(f"unsupported public key type {type(key).__name__} (RSA or Ed25519)")


class JwksCache:
    """Keys of a JWKS URL by `kid`, refetched on an unknown kid at most every
    `min_refresh_interval` seconds (so random kids cannot make us hammer identity)."""

    def __init__(
        self,
        url: str,
        *,
        client: httpx.AsyncClient | None = None,
        min_refresh_interval: float = 30.0,
        timeout: float = 5.0,
    ) -> None:
        self.url = url
        self._client = client
        self._timeout = timeout
        self._min_refresh_interval = min_refresh_interval
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at: float | None = None
        self._lock = asyncio.Lock()

    async def key(self, kid: str | None) -> jwt.PyJWK:
        found = self._lookup(kid)
        if found is None:
            async with self._lock:
                found = self._lookup(kid)
                if found is None and self._may_refresh():
                    await self._refresh()
                    found = self._lookup(kid)
        if found is None:
            raise jwt.InvalidTokenError(f"unknown signing key {kid!r}")
        return found

    def _lookup(self, kid: str | None) -> jwt.PyJWK | None:
        if kid is None:
            # A token without kid is accepted only when there is no choice to make.
            return next(iter(self._keys.values())) if len(self._keys) == 1 else None
        return self._keys.get(kid)

    def _may_refresh(self) -> bool:
        return (
            self._fetched_at is None
            or time.monotonic() - self._fetched_at >= self._min_refresh_interval
        )

    async def _refresh(self) -> None:
        try:
            if self._client is not None:
                response = await self._client.get(self.url, timeout=self._timeout)
            else:
                async with httpx.AsyncClient() as client:
                    response = await client.get(self.url, timeout=self._timeout)
            response.raise_for_status()
            document = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            log.warning("jwks_fetch_failed", url=self.url, error=repr(exc))
            if not self._keys:
                raise ServiceUnavailable(
                    "Vérification de l'identité momentanément impossible.",
                    code="auth_unavailable",
                ) from exc
            return  # keep the keys we have; retry after the interval
        keys: dict[str, jwt.PyJWK] = {}
        for entry in document.get("keys", []):
            try:
                jwk = jwt.PyJWK(entry)
            except (jwt.PyJWKError, jwt.InvalidKeyError) as exc:
                log.warning("jwks_key_skipped", kid=entry.get("kid"), error=str(exc))
                continue
            keys[str(entry.get("kid", ""))] = jwk
        self._keys = keys
        self._fetched_at = time.monotonic()
        log.info("jwks_fetched", url=self.url, kids=sorted(keys))


class TokenVerifier:
    """Checks signature, exp/nbf (with leeway), iss and aud; returns the Principal."""

    def __init__(
        self,
        *,
        issuer: str,
        audience: str,
        public_key: str | None = None,
        jwks_url: str | None = None,
        jwks_client: httpx.AsyncClient | None = None,
        jwks_min_refresh_interval: float = 30.0,
        leeway_seconds: int = 30,
    ) -> None:
        if (public_key is None) == (jwks_url is None):
            raise ValueError("give exactly one of public_key (PEM) or jwks_url")
        self.issuer = issuer
        self.audience = audience
        self.leeway = leeway_seconds
        self._static_key: Any = None
        self._static_algorithm: str | None = None
        self._jwks: JwksCache | None = None
        if public_key is not None:
            self._static_key = load_pem_public_key(public_key.encode())
            self._static_algorithm = _algorithm_for(self._static_key)
        else:
            assert jwks_url is not None
            self._jwks = JwksCache(
                jwks_url, client=jwks_client, min_refresh_interval=jwks_min_refresh_interval
            )

    @classmethod
    def from_settings(
        cls, settings: BaseServiceSettings, *, jwks_client: httpx.AsyncClient | None = None
    ) -> "TokenVerifier | None":
        """None when the settings give no key (allowed in dev/test only)."""
        if settings.jwt_public_key is None and settings.jwt_jwks_url is None:
            return None
        return cls(
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
            public_key=settings.jwt_public_key,
            jwks_url=None if settings.jwt_public_key else settings.jwt_jwks_url,
            jwks_client=jwks_client,
            leeway_seconds=settings.jwt_leeway_seconds,
        )

    async def verify(self, token: str) -> Principal:
        """The token's Principal; raises Unauthorized (401) for any invalid token."""
        try:
            header = jwt.get_unverified_header(token)
            algorithm = header.get("alg")
            if algorithm not in SUPPORTED_ALGORITHMS:
                raise jwt.InvalidAlgorithmError(f"algorithm {algorithm!r} not accepted")
            key: Any
            if self._jwks is not None:
                jwk = await self._jwks.key(header.get("kid"))
                if jwk.algorithm_name != algorithm:
                    raise jwt.InvalidAlgorithmError("algorithm does not match the key")
                key = jwk.key
            else:
                if algorithm != self._static_algorithm:
                    raise jwt.InvalidAlgorithmError("algorithm does not match the key")
                key = self._static_key
            claims = jwt.decode(
                token,
                key,
                algorithms=[algorithm],
                audience=self.audience,
                issuer=self.issuer,
                leeway=self.leeway,
                options={"require": [Claim.SUBJECT, Claim.EXPIRES_AT, Claim.ISSUED_AT]},
            )
            return Principal.from_claims(claims)
        except jwt.ExpiredSignatureError as exc:
            raise Unauthorized(
                "Session expirée, reconnectez-vous.",
                code="token_expired",
                error_param="invalid_token",
            ) from exc
        except jwt.InvalidTokenError as exc:
            log.info("token_rejected", reason=str(exc))
            raise Unauthorized(
                "Jeton d'accès invalide.", code="invalid_token", error_param="invalid_token"
            ) from exc


_bearer = HTTPBearer(auto_error=False, description="Jeton d'accès délivré par identity")


def verifier_of(request: Request) -> TokenVerifier:
    """The app's verifier (set by `create_app` from settings, or `app.state.token_verifier`)."""
    verifier: TokenVerifier | None = getattr(request.app.state, "token_verifier", None)
    if verifier is None:
        raise ServiceUnavailable(
            "Authentification non configurée (JWT_PUBLIC_KEY ou JWT_JWKS_URL).",
            code="auth_not_configured",
        )
    return verifier


async def get_principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """FastAPI dependency: the verified caller, or 401."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthorized()
    return await verifier_of(request).verify(credentials.credentials)


CurrentPrincipal = Annotated[Principal, Depends(get_principal)]


def require_roles(*roles: str) -> Callable[..., Coroutine[Any, Any, Principal]]:
    """A dependency that lets through callers holding at least one of `roles` (403 otherwise):

    Coordinator = Annotated[Principal, Depends(require_roles(Role.COORDINATOR))]
    @router.get("/exports", dependencies=[Depends(require_roles(Role.COORDINATOR))])
    """
    if not roles:
        raise ValueError("require_roles needs at least one role")
    wanted = frozenset(str(role) for role in roles)

    async def dependency(principal: CurrentPrincipal) -> Principal:
        if not principal.has_role(*wanted):
            raise Forbidden(code="missing_role")
        return principal

    return dependency


__all__ = [
    "SUPPORTED_ALGORITHMS",
    "Claim",
    "CurrentPrincipal",
    "JwksCache",
    "Principal",
    "Role",
    "Scope",
    "TokenVerifier",
    "get_principal",
    "require_roles",
]
