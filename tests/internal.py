"""An HTTP endpoint on loopback standing for an internal service that hands out a secret (a cloud metadata
service, an admin API): what a tenant must not be able to reach through the operator, or read back."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SECRET = "internal-token-5f3c9a"


@dataclass
class Internal:
    """An HTTP endpoint on 127.0.0.1 that answers every GET with `status` and a body holding SECRET."""

    status: int = 404
    requests: list[dict[str, str]] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def start(self) -> Internal:
        internal = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                internal.requests.append({"path": self.path, "authorization": self.headers.get("Authorization", "")})
                body = json.dumps({"status": "error", "error": f"token={SECRET}"}).encode()
                self.send_response(internal.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
