"""Serving an emulator over HTTP on loopback: in a background thread, or in the foreground."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from werkzeug.exceptions import HTTPException
from werkzeug.routing import Map
from werkzeug.serving import BaseWSGIServer, make_server
from werkzeug.wrappers import Request, Response

# werkzeug logs every request at INFO; a sandbox serving thousands of them
# would bury leadsync's own log lines.
logging.getLogger("werkzeug").setLevel(logging.WARNING)


def routed(
    url_map: Map,
    environ: dict[str, Any],
    start_response: Any,
    dispatch: Callable[[str, Request, Mapping[str, Any]], Response],
    refused: Callable[[HTTPException], Response],
) -> Any:
    """A WSGI answer: the request sent to ``dispatch(endpoint, request, args)``, or, for a
    path or method no rule takes, ``refused(exc)`` in the vendor's error shape."""
    request = Request(environ)
    try:
        endpoint, args = url_map.bind_to_environ(environ).match()
    except HTTPException as exc:
        response = refused(exc)
    else:
        response = dispatch(endpoint, request, args)
    return response(environ, start_response)


class Emulators:
    """Several emulators behind one address: each request goes to the one whose paths it
    uses (HubSpot's ``/crm/v3/``), the rest to the first (Salesforce)."""

    def __init__(self, default: Any, *others: Any) -> None:
        self.default = default
        self.others = others

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        path = environ.get("PATH_INFO", "/")
        for app in self.others:
            if app.handles(path):
                return app(environ, start_response)
        return self.default(environ, start_response)


@contextmanager
def running(app: Any, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """Serve ``app`` in a daemon thread; yield its base URL; stop it on exit."""
    server: BaseWSGIServer = make_server(host, port, app, threaded=True)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="sandbox", daemon=True
    )
    thread.start()
    try:
        yield f"http://{host}:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def serve(app: Any, host: str, port: int) -> None:
    server = make_server(host, port, app, threaded=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()
