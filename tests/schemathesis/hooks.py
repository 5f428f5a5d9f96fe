"""Schemathesis hooks for depot's API: tus bodies (application/offset+octet-stream)
are raw bytes, sent as generated."""

import schemathesis


@schemathesis.serializer("application/offset+octet-stream")
def offset_octet_stream(ctx, value):
    return value if isinstance(value, bytes) else str(value).encode()
