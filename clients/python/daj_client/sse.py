"""Server-sent events decoded from text lines: the one SSE decoder of daj.

Public and transport-agnostic on purpose: it knows nothing of httpx or of daj's event types, so the SDK's sync and
async streams use it, and so does the service's remote engine for the OpenAI-compatible stream it reads from
vLLM. A rule fixed here (multi-line data, comments, a last message without its blank line) is fixed for both.
Standard library only: importing it adds nothing to whoever imports it.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator
from dataclasses import dataclass

__all__ = ["SSEDecoder", "ServerSentEvent", "aiter_sse", "iter_sse"]


@dataclass(frozen=True)
class ServerSentEvent:
    event: str
    data: str


class SSEDecoder:
    """Feeds lines (without their line ending), returns a message at each blank line.

    Follows the WHATWG rules daj needs: `event:` and `data:` fields (several `data:` lines join with newlines),
    one optional space after the colon, `:` comment lines (keep-alives) and unknown fields (`id:`, `retry:`)
    ignored. A blank line with nothing pending dispatches nothing, so a comment's own blank line is harmless.
    """

    def __init__(self) -> None:
        self._event = ""
        self._data: list[str] = []

    def feed(self, line: str) -> ServerSentEvent | None:
        if not line:
            return self.flush()
        if line.startswith(":"):
            return None
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "event":
            self._event = value
        elif name == "data":
            self._data.append(value)
        return None

    def flush(self) -> ServerSentEvent | None:
        """The message pending, if any: at a blank line, or when the body ends without its last blank line."""
        if not self._data and not self._event:
            return None
        message = ServerSentEvent(event=self._event or "message", data="\n".join(self._data))
        self._event, self._data = "", []
        return message


def iter_sse(lines: Iterable[str]) -> Iterator[ServerSentEvent]:
    """Every message of a body given as lines, including a last one that lacks its blank line."""
    decoder = SSEDecoder()
    for line in lines:
        if (message := decoder.feed(line)) is not None:
            yield message
    if (last := decoder.flush()) is not None:
        yield last


async def aiter_sse(lines: AsyncIterable[str]) -> AsyncIterator[ServerSentEvent]:
    """`iter_sse` for a body read asynchronously (httpx's `response.aiter_lines()`)."""
    decoder = SSEDecoder()
    async for line in lines:
        if (message := decoder.feed(line)) is not None:
            yield message
    if (last := decoder.flush()) is not None:
        yield last
