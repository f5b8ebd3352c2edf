"""Small types shared by the HTTP layer and the cloud handlers."""

import json


class ApiError(Exception):
    """Raised by handlers: rendered in the cloud's own error shape."""

    def __init__(self, status, code, message, headers=None):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.headers = headers or {}


class Response:
    def __init__(self, status=200, body=None, headers=None):
        self.status = status
        self.body = body            # dict/list -> JSON; bytes -> as is; None -> empty
        self.headers = dict(headers or {})
        self.code = None            # error code, for the log

    def payload(self):
        if self.body is None:
            return b""
        if isinstance(self.body, (bytes, bytearray)):
            return bytes(self.body)
        return json.dumps(self.body, ensure_ascii=False).encode("utf-8")
