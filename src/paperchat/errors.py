"""User-facing errors: one family, every message says what to do next."""

from __future__ import annotations


class PaperchatError(Exception):
    """Base of every error a user may see; the CLI prints it as `Error: ...`."""

    status_code = 500  # HTTP status the API uses
    error_type = "server_error"  # OpenAI error envelope `type`


class ConfigError(PaperchatError):
    """A setting has a value that cannot work."""

    status_code = 400
    error_type = "invalid_request_error"


class CorpusError(PaperchatError):
    """A corpus file could not be read or parsed (names the file and line)."""

    status_code = 400
    error_type = "invalid_request_error"


class BadQuestionError(PaperchatError):
    """The question is empty or over the size limit."""

    status_code = 400
    error_type = "invalid_request_error"


class IndexUnavailableError(PaperchatError):
    """Qdrant cannot be reached, is locked by another process, or holds an incompatible index."""

    status_code = 503
    error_type = "service_unavailable"


class IndexNotReadyError(PaperchatError):
    """The index is empty or still being built."""

    status_code = 503
    error_type = "service_unavailable"


class LLMUnavailableError(PaperchatError):
    """The LLM server is down, slow, or refused the request."""

    status_code = 503
    error_type = "service_unavailable"


class MissingDependencyError(PaperchatError):
    """An optional package is needed; the message has the exact install line."""

    status_code = 500
    error_type = "server_error"


class GoldError(PaperchatError):
    """A gold question file could not be read or has malformed lines (names file and line)."""

    status_code = 400
    error_type = "invalid_request_error"
