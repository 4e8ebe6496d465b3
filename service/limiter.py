"""Admission control: at most N selections in flight; the next one gets 429 with Retry-After."""

from __future__ import annotations

from dataclasses import dataclass

from service.errors import ApiError


@dataclass
class ConcurrencyLimiter:
    limit: int
    retry_after_s: int = 1
    in_flight: int = 0

    def acquire(self) -> Slot:
        if self.in_flight >= self.limit:
            raise ApiError(429, f"{self.in_flight} selections in flight, the limit is {self.limit} "
                           "(max_concurrent_requests); retry later", "too_many_requests",
                           headers={"Retry-After": str(self.retry_after_s)})
        self.in_flight += 1
        return Slot(self)


@dataclass
class Slot:
    """Released exactly once, however the request ends."""

    limiter: ConcurrencyLimiter
    released: bool = False

    def release(self) -> None:
        if not self.released:
            self.released = True
            self.limiter.in_flight -= 1
