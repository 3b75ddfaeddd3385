"""prettyfy: a CGI-style JSON pretty-printer, run by the WASI CPython inside mod_wasm.

Served with `WasmMapDir /app <this folder>`, `WasmArg /app/main.py` and `WasmEnableCGI On`
(see ../python.conf). Request:
  POST a JSON document (the request body, read from stdin up to CONTENT_LENGTH or EOF);
  query string options: `indent=N` (0..8, default 2), `sort=1` (sort object keys).
  GET with no body answers a short usage text.
Response: `Content-Type: application/json` with the document re-indented, or `Status: 400` with
the parse error as text. Everything comes from the CGI environment and stdin, nothing else.

Every request starts a fresh interpreter, so imports are the cost to watch: `json` pulls in `re`
(tens of ms inside Wasm), so it is imported only when there is a document to parse, and the query
string is split by hand rather than through `urllib.parse`.
"""

import os
import sys


def respond(status, content_type, body):
    """Writes the CGI header block, then the body, as one UTF-8 byte string on stdout."""
    head = f"Status: {status}\r\nContent-Type: {content_type}\r\n\r\n"
    out = sys.stdout.buffer
    out.write(head.encode("ascii") + body.encode("utf-8"))
    out.flush()


def read_body():
    """The request body: CONTENT_LENGTH bytes when given, else everything until EOF."""
    length = os.environ.get("CONTENT_LENGTH", "")
    stdin = sys.stdin.buffer
    if length.isdigit():
        return stdin.read(int(length))
    return stdin.read()


def options(query):
    """(indent, sort_keys) from the query string; bad or unknown values fall back to the defaults.

    Both options take plain ASCII words, so no percent-decoding is needed: a value that would need
    it is not a valid one anyway.
    """
    params = {}
    for pair in query.split("&"):
        name, _, value = pair.partition("=")
        params[name] = value
    indent = 2
    raw = params.get("indent", "")
    if raw.isdigit() and int(raw) <= 8:
        indent = int(raw)
    sort_keys = params.get("sort", "0") in ("1", "true", "yes")
    return indent, sort_keys


def main():
    method = os.environ.get("REQUEST_METHOD", "GET")
    indent, sort_keys = options(os.environ.get("QUERY_STRING", ""))
    body = read_body() if method in ("POST", "PUT") else b""
    if not body.strip():
        respond(
            "200 OK",
            "text/plain; charset=utf-8",
            "prettyfy: POST a JSON document; options: ?indent=N&sort=1\n"
            f"python {sys.version.split()[0]} on {sys.platform}\n",
        )
        return
    import json  # here, not at the top: see the module docstring

    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError) as err:
        respond("400 Bad Request", "text/plain; charset=utf-8", f"invalid JSON: {err}\n")
        return
    text = json.dumps(document, indent=indent, sort_keys=sort_keys, ensure_ascii=False)
    respond("200 OK", "application/json; charset=utf-8", text + "\n")


main()
