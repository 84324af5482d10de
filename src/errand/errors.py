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
        └── BudgetExceeded       a step, token or wall-time budget ran out
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
