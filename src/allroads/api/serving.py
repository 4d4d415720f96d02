"""How uvicorn serves the app: its HTTP protocol, with a response written in one piece.

    uvicorn.run(app, **uvicorn_options(), host=..., port=...)

uvicorn writes a response's status line and headers as soon as the app sends them, then
the body: two writes to the socket, so two system calls and, over loopback, two wake-ups
of the client, for every response. `OneWriteHttpToolsProtocol` is uvicorn's own httptools
protocol whose transport gathers what is written during one step of the event loop and
writes it at once just after (a write is sent as soon as the current task yields; nothing
waits for more). What goes on the wire is byte for byte the same.

Without httptools (uvicorn[standard] brings it) uvicorn's default protocol is used.
"""

from __future__ import annotations

import asyncio
import importlib.util
from typing import Any

MAX_GATHERED = 65_536  # bytes gathered before they are written at once

def uvicorn_options() -> dict[str, Any]:
    """Options for `uvicorn.run` / `uvicorn.Config`: the HTTP protocol and the loop."""
    options: dict[str, Any] = {
        "loop": "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"}
    protocol = one_write_protocol()
    options["http"] = protocol if protocol is not None else "auto"
    return options


def one_write_protocol() -> type[asyncio.Protocol] | None:
    """uvicorn's httptools protocol with writes gathered (None without httptools)."""
    if importlib.util.find_spec("httptools") is None:
        return None
    return OneWriteHttpToolsProtocol


class GatheredWrites:
    """A transport whose writes during one step of the event loop go out as one write, at
    the next (before anything else is read or written). Everything else is the transport's
    own; closing it sends what was gathered first."""

    __slots__ = ("_loop", "_pending", "_size", "_transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._pending: list[bytes] | None = None
        self._size = 0

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self._pending is None:
            self._pending = [bytes(data)]
            self._size = len(data)
            self._loop.call_soon(self.flush)
        else:
            self._pending.append(bytes(data))
            self._size += len(data)
        if self._size > MAX_GATHERED:  # a long body streamed in one step: no hoarding
            self.flush()

    def writelines(self, lines: Any) -> None:
        for data in lines:
            self.write(data)

    def flush(self) -> None:
        pending, self._pending, self._size = self._pending, None, 0
        if pending and not self._transport.is_closing():
            self._transport.write(pending[0] if len(pending) == 1 else b"".join(pending))

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def write_eof(self) -> None:
        self.flush()
        self._transport.write_eof()

    def get_write_buffer_size(self) -> int:
        return self._transport.get_write_buffer_size() + self._size

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


if importlib.util.find_spec("httptools") is not None:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol as _Base

    class OneWriteHttpToolsProtocol(_Base):
        """uvicorn's httptools protocol, each response written to the socket once."""

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(GatheredWrites(transport, self.loop))  # type: ignore[arg-type]
