"""prettyfy as a wasi:http component: the JSON pretty-printer of samples/python, built by
componentize-py into a `wasi:http/proxy` component whose CPython is pre-initialised.

Request: POST a JSON document as the body; query options `indent=N` (0..8, default 2) and
`sort=1` (sort object keys). A GET, or an empty body, answers a short usage text.
Response: 200 `application/json` with the document re-indented, or 400 `text/plain` with the
parse error.

Unlike the CGI script of samples/python, nothing here runs per request but `handle`: this module
(and `json`, `re`, `urllib.parse` with it) is imported once, at build time, and the component
starts from that snapshot. So imports live at the top, where they cost nothing.
"""

import json
import sys
from urllib.parse import parse_qsl

from wit_world import exports
from wit_world.imports.types import IncomingRequest, Method_Post, Method_Put, ResponseOutparam

from http_io import read_body, respond

# The largest document accepted (the route's memory limit bounds the rest).
MAX_BODY = 16 * 1024 * 1024

USAGE = (
    "prettyfy: POST a JSON document; options: ?indent=N&sort=1\n"
    f"python {sys.version.split()[0]} on {sys.platform} (wasi:http component)\n"
)


def options(query: str) -> tuple[int, bool]:
    """(indent, sort_keys) from the query string; bad or unknown values fall back to the defaults."""
    params = dict(parse_qsl(query, keep_blank_values=True))
    indent = 2
    raw = params.get("indent", "")
    if raw.isdigit() and int(raw) <= 8:
        indent = int(raw)
    sort_keys = params.get("sort", "0") in ("1", "true", "yes")
    return indent, sort_keys


class IncomingHandler(exports.IncomingHandler):
    """The export componentize-py wires to `wasi:http/incoming-handler.handle`."""

    def handle(self, request: IncomingRequest, response_out: ResponseOutparam) -> None:
        _, _, query = (request.path_with_query() or "/").partition("?")
        indent, sort_keys = options(query)
        body = b""
        if isinstance(request.method(), (Method_Post, Method_Put)):
            try:
                body = read_body(request, MAX_BODY)
            except ValueError as err:
                respond(response_out, 413, "text/plain; charset=utf-8", f"{err}\n")
                return
        if not body.strip():
            respond(response_out, 200, "text/plain; charset=utf-8", USAGE)
            return
        try:
            document = json.loads(body)
        except (ValueError, UnicodeDecodeError) as err:
            respond(response_out, 400, "text/plain; charset=utf-8", f"invalid JSON: {err}\n")
            return
        text = json.dumps(document, indent=indent, sort_keys=sort_keys, ensure_ascii=False)
        respond(response_out, 200, "application/json; charset=utf-8", text + "\n")
