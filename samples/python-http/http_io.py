"""http_io: the few wasi:http 0.2 steps the PrettyFy component needs, as plain blocking calls.

componentize-py's bindings (module `wit_world`, generated at build time) expose wasi:http as
resources: streams are non-blocking, bodies are children of requests and responses, and a child
resource must be released before its parent is finished. These helpers do that in order, without
an event loop: one request at a time, blocking on a pollable when a stream is not ready.
"""

from componentize_py_types import Err, Ok
from wit_world.imports.streams import StreamError_Closed
from wit_world.imports.types import (
    Fields,
    IncomingBody,
    IncomingRequest,
    OutgoingBody,
    OutgoingResponse,
    ResponseOutparam,
)

# Bytes asked for per read: the host answers with what it has, up to this.
READ_SIZE = 64 * 1024


def read_body(request: IncomingRequest, limit: int) -> bytes:
    """The whole request body, or ValueError once it exceeds `limit` bytes."""
    body = request.consume()
    chunks = []
    size = 0
    with body.stream() as stream:
        while True:
            try:
                chunk = stream.blocking_read(READ_SIZE)
            except Err as err:
                if isinstance(err.value, StreamError_Closed):
                    break
                raise
            size += len(chunk)
            if size > limit:
                raise ValueError(f"request body larger than {limit} bytes")
            chunks.append(chunk)
    # The stream (a child of the body) is released above, before the body is finished.
    with IncomingBody.finish(body):
        pass
    return b"".join(chunks)


def write_all(stream, data: bytes) -> None:
    """Writes all of `data` as the stream permits (check-write), then flushes and waits."""
    offset = 0
    while offset < len(data):
        permit = stream.check_write()
        if permit == 0:
            with stream.subscribe() as ready:
                ready.block()
            continue
        stream.write(data[offset : offset + permit])
        offset += permit
    stream.blocking_flush()


def respond(response_out: ResponseOutparam, status: int, content_type: str, text: str) -> None:
    """Sends a complete response: status, a content-type and a UTF-8 body."""
    response = OutgoingResponse(Fields.from_list([("content-type", content_type.encode("ascii"))]))
    response.set_status_code(status)
    body = response.body()
    ResponseOutparam.set(response_out, Ok(response))
    with body.write() as stream:
        write_all(stream, text.encode("utf-8"))
    OutgoingBody.finish(body, None)
