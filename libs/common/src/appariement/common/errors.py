"""Domain errors that services raise and the app factory turns into the one JSON error shape.

Every 4xx/5xx answer of every service reads `{"error": code, "detail": ..., "fields": ...}`;
a service declares its errors as nouns (`class PhaseClosed(AppError)`) with a stable `code`
and an HTTP `status`, and raises them from handlers without knowing about HTTP responses.
"""

from collections.abc import Mapping
from typing import Any, ClassVar

from pydantic import BaseModel


class ErrorBody(BaseModel):
    """The JSON body of every error response (also documented in OpenAPI)."""

    error: str
    detail: Any = None
    fields: dict[str, str] | None = None


class AppError(Exception):
    """Base of the errors a service raises on purpose.

    Subclasses set `code` and `status` once; an instance may override them:

        class PhaseClosed(AppError):
            code = "phase_closed"
            status = 409

        raise PhaseClosed("La phase de vœux est close.")
        raise AppError("Email déjà utilisé", code="email_taken", status=409,
                       fields={"email": "déjà utilisé"})
    """

    code: ClassVar[str] = "error"
    status: ClassVar[int] = 400
    default_detail: ClassVar[str] = "Requête refusée."

    def __init__(
        self,
        detail: Any = None,
        *,
        code: str | None = None,
        status: int | None = None,
        fields: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.detail: Any = self.default_detail if detail is None else detail
        self.error_code: str = code or type(self).code
        self.status_code: int = status or type(self).status
        self.fields: dict[str, str] | None = dict(fields) if fields is not None else None
        self.headers: dict[str, str] = dict(headers or {})
        super().__init__(f"{self.error_code}: {self.detail}")

    def body(self) -> ErrorBody:
        return ErrorBody(error=self.error_code, detail=self.detail, fields=self.fields)


class NotFound(AppError):
    code = "not_found"
    status = 404
    default_detail = "Ressource introuvable."


class Conflict(AppError):
    code = "conflict"
    status = 409
    default_detail = "La ressource a changé ou existe déjà."


class Unauthorized(AppError):
    """No valid credentials: the client must (re)authenticate (RFC 6750 challenge)."""

    code = "not_authenticated"
    status = 401
    default_detail = "Authentification requise."

    def __init__(
        self, detail: Any = None, *, code: str | None = None, error_param: str | None = None
    ) -> None:
        challenge = "Bearer" if error_param is None else f'Bearer error="{error_param}"'
        super().__init__(detail, code=code, headers={"WWW-Authenticate": challenge})


class Forbidden(AppError):
    code = "forbidden"
    status = 403
    default_detail = "Action non autorisée pour ce compte."


class ServiceUnavailable(AppError):
    code = "unavailable"
    status = 503
    default_detail = "Service momentanément indisponible."


__all__ = [
    "AppError",
    "Conflict",
    "ErrorBody",
    "Forbidden",
    "NotFound",
    "ServiceUnavailable",
    "Unauthorized",
]
