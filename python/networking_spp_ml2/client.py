"""HTTP client of the binding service's /v1/ml2/* API (docs/server-api.md).

Standard library only. Runs under eventlet in neutron-server (sockets are green there).
"""

import http.client
import json
import socket
import urllib.error
import urllib.request

BIND_PATH = "/v1/ml2/bind"
UNBIND_PATH = "/v1/ml2/unbind"
SYNC_PATH = "/v1/ml2/sync"
ACTIVATE_PATH = "/v1/ml2/activate"

# Reasons for failures on the driver's side of the wire; the service's own reasons
# (not_spp_host, timeout, ...) never start with "service_" or "invalid_".
UNREACHABLE = "service_unreachable"
TIMEOUT = "service_timeout"
HTTP_ERROR = "service_http_error"
INVALID_ANSWER = "invalid_answer"


class ServiceError(Exception):
    """The service could not be asked, or did not answer with a JSON object."""

    def __init__(self, reason, detail, status=None):
        super().__init__("%s: %s" % (reason, detail))
        self.reason = reason
        self.detail = detail
        self.status = status  # the HTTP status of an HTTP_ERROR

    @property
    def may_have_acted(self):
        """Whether the service may have done (part of) the work before this failure.

        Not when it could not be reached or rejected the request itself (4xx).
        """
        if self.reason == UNREACHABLE:
            return False
        return not (self.reason == HTTP_ERROR and self.status is not None and self.status < 500)


class ServiceClient:
    def __init__(self, service_url, auth_token=None, timeout=30.0):
        self.base_url = service_url.rstrip("/")
        self.auth_token = auth_token or None
        self.timeout = timeout
        # An empty ProxyHandler: never send these requests through http_proxy.
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    @classmethod
    def from_conf(cls, group):
        return cls(group.service_url, group.auth_token, group.request_timeout)

    def bind(self, body):
        return self.post(BIND_PATH, body)

    def unbind(self, port_id, host):
        return self.post(UNBIND_PATH, {"port_id": port_id, "host": host})

    def activate(self, body):
        return self.post(ACTIVATE_PATH, body)

    def sync(self, ports):
        return self.post(SYNC_PATH, {"ports": ports})

    def post(self, path, body):
        """POSTs JSON; returns the answer's JSON object or raises ServiceError."""
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self.auth_token:
            headers["Authorization"] = "Bearer " + self.auth_token
        request = urllib.request.Request(
            self.base_url + path,
            data=json.dumps(body).encode("utf-8"),
            headers=headers,
            method="POST",
        )
        try:
            with self._opener.open(request, timeout=self.timeout) as response:
                raw = response.read()
        except urllib.error.HTTPError as e:
            raise ServiceError(HTTP_ERROR, "HTTP %d: %s" % (e.code, _error_text(e)), e.code)
        except urllib.error.URLError as e:
            if isinstance(e.reason, socket.timeout):
                raise ServiceError(TIMEOUT, "no answer within %ss" % self.timeout)
            raise ServiceError(UNREACHABLE, "%s: %s" % (self.base_url, e.reason))
        except socket.timeout:
            raise ServiceError(TIMEOUT, "no answer within %ss" % self.timeout)
        except (OSError, http.client.HTTPException) as e:
            raise ServiceError(UNREACHABLE, "%s: %s" % (self.base_url, e))
        try:
            answer = json.loads(raw.decode("utf-8"))
        except ValueError as e:
            raise ServiceError(INVALID_ANSWER, "not JSON: %s" % e)
        if not isinstance(answer, dict):
            raise ServiceError(INVALID_ANSWER, "not a JSON object")
        return answer


def _error_text(http_error):
    """The service's {"error", "detail"} of a 4xx/5xx, or the start of the body."""
    try:
        raw = http_error.read(4096)
        answer = json.loads(raw.decode("utf-8"))
        if isinstance(answer, dict) and "error" in answer:
            return "%s %s" % (answer.get("error"), answer.get("detail", ""))
        return raw.decode("utf-8", "replace")[:200]
    except Exception:
        return http_error.reason
