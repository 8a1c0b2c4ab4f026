"""An HTTP server on 127.0.0.1 for the planning tests: real sockets, answers set by the test."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class LoopbackServer:
    """Serves on a free loopback port; subclasses say what to answer (``respond``)."""

    path = "/"

    def __init__(self) -> None:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                outer._answer(self, None)

            def do_POST(self):  # noqa: N802
                outer._answer(self, self.rfile.read(int(self.headers["Content-Length"])))

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}{self.path}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def respond(self, request: BaseHTTPRequestHandler, body: bytes | None) -> tuple[int, str]:
        """(HTTP status, response text) for ``request`` (its .path, .headers; ``body``: POST data)."""
        raise NotImplementedError

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _answer(self, handler: BaseHTTPRequestHandler, body: bytes | None) -> None:
        status, text = self.respond(handler, body)
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.end_headers()
        handler.wfile.write(text.encode())
