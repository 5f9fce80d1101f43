"""Failure injection: the next N matching API requests answer 429/5xx or hang.

Rules are consumed in the order they were added; admin requests (``/_emulator``) are
never affected, so a test can always inspect and reset the emulator.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field


@dataclass
class Fault:
    status: int | str  # an HTTP status, or "timeout"
    count: int = 1
    path: str | None = None  # regex searched in the API path (without /metal/v1)
    method: str | None = None
    retry_after: int | None = None  # seconds, sent with 429/503
    delay: float = 10.0  # how long a "timeout" keeps the client waiting
    # True: the request takes effect, only its answer is lost (a create that happened
    # although the client saw a 5xx/timeout).
    after: bool = False
    hits: int = field(default=0)

    def matches(self, method: str, path: str) -> bool:
        if self.method and self.method.upper() != method:
            return False
        return not self.path or re.search(self.path, path) is not None

    def as_dict(self) -> dict:
        return {
            "status": self.status,
            "count": self.count,
            "path": self.path,
            "method": self.method,
            "retry_after": self.retry_after,
            "delay": self.delay,
            "after": self.after,
            "hits": self.hits,
        }


class Faults:
    def __init__(self) -> None:
        self._rules: list[Fault] = []
        self._lock = threading.Lock()

    def add(self, spec: dict) -> Fault:
        status = spec.get("status", 500)
        if status != "timeout":
            status = int(status)
            if not 400 <= status <= 599:
                raise ValueError("fault status must be 4xx/5xx or 'timeout'")
        fault = Fault(
            status=status,
            count=int(spec.get("count", 1)),
            path=spec.get("path"),
            method=spec.get("method"),
            retry_after=spec.get("retry_after"),
            delay=float(spec.get("delay", 10.0)),
            after=bool(spec.get("after", False)),
        )
        with self._lock:
            self._rules.append(fault)
        return fault

    def take(self, method: str, path: str) -> Fault | None:
        """The fault to apply to this request, if any (and count it)."""
        with self._lock:
            for rule in self._rules:
                if rule.hits < rule.count and rule.matches(method, path):
                    rule.hits += 1
                    return rule
        return None

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()

    def as_list(self) -> list[dict]:
        with self._lock:
            return [r.as_dict() for r in self._rules]
