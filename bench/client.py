"""A small HTTP/1.1 keep-alive client for the REST API (http.client: cheap per request)."""

import base64
import http.client
import json
from urllib.parse import urlsplit

API_PATH = "/rundb/api/v1/filemonitor/"


def apikey_header(user, key):
    return {"Authorization": f"ApiKey {user}:{key}"}


def basic_header(user, password):
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


class ApiClient:
    """One keep-alive connection to ``base`` (reconnects after an error)."""

    def __init__(self, base, auth_header, timeout=120):
        parts = urlsplit(base)
        self.host, self.port = parts.hostname, parts.port
        self.auth_header = auth_header
        self.timeout = timeout
        self._conn = None

    def request(self, method, path, body=None, headers=None):
        """(status, headers dict, body bytes)."""
        sent = {"Accept": "application/json", **self.auth_header, **(headers or {})}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            sent["Content-Type"] = "application/json"
        for attempt in (1, 2):
            if self._conn is None:
                self._conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
            try:
                self._conn.request(method, path, body=data, headers=sent)
                response = self._conn.getresponse()
                payload = response.read()
            except (http.client.HTTPException, OSError):
                self.close()
                if attempt == 2:
                    raise
                continue
            if response.getheader("Connection", "").lower() == "close":
                self.close()
            return response.status, dict(response.getheaders()), payload
        raise AssertionError("unreachable")

    def post_download(self, url, md5=None):
        """POST a download; return the new row's id."""
        body = {"url": url}
        if md5:
            body["md5sum"] = md5
        status, headers, payload = self.request("POST", API_PATH, body)
        if status != 201:
            raise RuntimeError(f"POST {url} answered {status}: {payload[:300]!r}")
        return int(headers["Location"].rstrip("/").rsplit("/", 1)[1])

    def close(self):
        if self._conn is not None:
            self._conn.close()
            self._conn = None
