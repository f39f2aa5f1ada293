"""The MIG nodepool's exceptions: the one users see, and two the API client handles itself."""


class MigNodepoolError(Exception):
    """A nodepool operation failed; the message says what, why, and which nodepool/input."""


class _NotFound(MigNodepoolError):
    """The API answered 404 (callers that expect it catch it; elsewhere it is a plain error)."""


class _Retryable(Exception):
    """A failure worth retrying (5xx, 429, connection error, HTTP timeout)."""
