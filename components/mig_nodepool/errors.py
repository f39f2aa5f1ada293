"""The MIG nodepool's exceptions: the one users see, the 404 its callers may expect (the SKS add-on's
too), and the one the API client retries itself."""


class MigNodepoolError(Exception):
    """A nodepool operation failed; the message says what, why, and which nodepool/input."""


class NotFound(MigNodepoolError):
    """The API answered 404 (callers that expect it catch it; elsewhere it is a plain error)."""


class _Retryable(Exception):
    """A failure worth retrying (5xx, 429, connection error, HTTP timeout)."""
