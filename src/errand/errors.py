"""errand's exception tree.

Every error a user can cause or meet has a class here, so callers decide by type,
never by searching an error's text. Each message says what is wrong and what to do.

    ErrandError
    ├── ConfigError              a setting is missing or invalid
    ├── ModelError               anything about the language model
    │   ├── ModelFileError       the GGUF is missing, truncated or corrupt
    │   ├── ModelUnavailableError  the model server cannot be reached
    │   └── ModelResponseError   the backend answered with an error
    ├── ToolError                raised by a tool; goes back to the model as an observation
    │   └── ToolArgumentsError   arguments failed validation against the tool's schema
    ├── ServiceError             a service refused an operation (business rule)
    └── RunError                 an agent run cannot continue
        ├── BudgetExceeded       a step, token or wall-time budget ran out
        ├── RunNotFound          no such run, or not this user's
        ├── RunConflict          the run is not in a state that allows this
        ├── ConfirmationExpired  nobody answered a confirmation in time
        └── RunInputError        the request cannot be run as given (empty, an image that is not an image)
            └── EditRefused      an approval changed what the tool does not let a person change

Errors of the HTTP server (``errand serve``; errand/server/errors.py maps each to a status):

    ErrandError
    ├── ModelError
    │   └── ModelUnavailableError
    │       └── ModelTimeout     the model did not answer in time (504)
    ├── RequestError             a request to the server is invalid (400)
    │   ├── ContextLengthExceeded  messages plus completion exceed the model's window (400)
    │   ├── BodyTooLarge         the request body is over the server's limit (413)
    │   └── ModelNotFound        no model of that name is served (404)
    ├── AuthError                the API key is missing, unknown or revoked (401)
    ├── AdmissionError           work refused before it started
    │   ├── RateLimited          this key's rate or concurrency limit (429, retry after)
    │   ├── QuotaExceeded        this key's token budget is spent (429, do not retry)
    │   └── Overloaded           the server is full, loading its model or draining (503, retry after)
    └── IdempotencyError         an ``Idempotency-Key`` cannot be used now
        ├── IdempotencyInFlight  the first request with this key is still running (409)
        └── IdempotencyMismatch  the key was used with another request body (422)
"""

from __future__ import annotations


class ErrandError(Exception):
    """Base of every error errand raises on purpose."""


class ConfigError(ErrandError):
    """A setting is missing or has a value errand cannot use."""


class ModelError(ErrandError):
    """The language model could not be used."""


class ModelFileError(ModelError):
    """The model weights are missing, truncated or fail their checksum."""


class ModelUnavailableError(ModelError):
    """The model server could not be reached."""


class ModelResponseError(ModelError):
    """The model backend answered with an error."""


class ToolError(ErrandError):
    """A tool could not do what was asked; the model sees the message and may retry."""


class ToolArgumentsError(ToolError):
    """The arguments of a tool call did not match the tool's schema."""


class ServiceError(ErrandError):
    """A service refused an operation because a business rule forbids it."""


class RunError(ErrandError):
    """An agent run cannot continue."""


class BudgetExceeded(RunError):
    """A run used up its step, token or wall-time budget."""


class RunNotFound(RunError):
    """No run has this id for this user (another user's run is not found either)."""


class RunConflict(RunError):
    """The run cannot do this now (approve with nothing awaiting, resume a finished run)."""


class ConfirmationExpired(RunError):
    """A confirmation waited longer than its expiry; the run ends cancelled, nothing charged."""


# -- errand serve -----------------------------------------------------------


class ModelTimeout(ModelUnavailableError):
    """The model did not answer within the time allowed."""


class RequestError(ErrandError):
    """A request to the HTTP server is invalid; ``param`` names the field at fault, ``code`` the
    reason (``invalid_value`` unless a subclass says more)."""

    def __init__(self, message: str, *, param: str | None = None, code: str = "invalid_value") -> None:
        super().__init__(message)
        self.param = param
        self.code = code


class ContextLengthExceeded(RequestError):
    """The messages and the requested completion do not fit the model's context window."""

    def __init__(self, message: str) -> None:
        super().__init__(message, param="messages", code="context_length_exceeded")


class BodyTooLarge(RequestError):
    """The request body is larger than the server accepts (``ERRAND_SERVE_MAX_BODY_BYTES``)."""

    def __init__(self, limit: int) -> None:
        super().__init__(
            f"The request body is over this server's limit of {limit:,} bytes; send less "
            "(smaller or fewer images), or raise ERRAND_SERVE_MAX_BODY_BYTES.",
            code="request_too_large",
        )


class ModelNotFound(RequestError):
    """The request names a model this server does not serve."""

    def __init__(self, message: str) -> None:
        super().__init__(message, param="model", code="model_not_found")


class AuthError(ErrandError):
    """The API key is missing, unknown or revoked."""


class AdmissionError(ErrandError):
    """The server refused work before starting it; ``retry_after`` is in seconds (None: don't retry)."""

    code = "server_overloaded"

    def __init__(self, message: str, *, retry_after: float | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.code = code or type(self).code


class RateLimited(AdmissionError):
    """This key sent too many requests, or has too many in flight."""

    code = "rate_limit_exceeded"


class QuotaExceeded(AdmissionError):
    """This key's token budget is spent; retrying will not help."""

    code = "insufficient_quota"


class Overloaded(AdmissionError):
    """The server is full, still loading its model, or shutting down."""

    code = "server_overloaded"


class IdempotencyError(ErrandError):
    """An ``Idempotency-Key`` cannot be used for this request now."""


class IdempotencyInFlight(IdempotencyError):
    """The first request with this key is still running; retry when it has finished."""


class IdempotencyMismatch(IdempotencyError):
    """The key was first used with another request; use a new key for a new request."""


class RunInputError(RunError):
    """A run's request cannot be run as given; the message says what to change."""


class EditRefused(RunInputError):
    """An approval changed an argument the tool does not mark editable, or gave one a value that
    does not fit; nothing was sent to the run, which still waits for an answer."""
