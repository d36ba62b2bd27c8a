"""The one exception the web app turns into an HTTP error status with a clear message."""

from __future__ import annotations

from camo.errors import InputError


class Rejected(InputError):
    """A request the server refuses: ``status`` is the HTTP status (400, 404, 413, 415, 429...).

    Args:
        status: the HTTP status to answer with.
        message: one sentence for people; it never names a server-side path.
        retry_after: seconds a client should wait before retrying (sent as Retry-After with 429).
    """

    def __init__(self, status: int, message: str, *, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after
