"""Test helpers: a real HTTP server standing in for the binding service, fake ML2 contexts."""

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from oslo_config import cfg

from networking_spp_ml2 import config
from networking_spp_ml2.driver import SppMechanismDriver

TOKEN = "test-token-1234"


class Recorded:
    def __init__(self, method, path, headers, raw):
        self.method = method
        self.path = path
        self.headers = headers
        self.raw = raw

    @property
    def body(self):
        return json.loads(self.raw.decode("utf-8"))


class FakeService:
    """The binding service's HTTP side on 127.0.0.1, with programmable answers.

    answer(path, body, status=200, hold=False, delay=0): body is JSON-encoded unless
    bytes; hold=True keeps the request waiting until the test ends (for client
    timeouts); delay answers that many seconds late (a service waiting for an agent).
    """

    def __init__(self):
        self.requests = []
        self._answers = {}
        self._release = threading.Event()
        service = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                service.requests.append(
                    Recorded("POST", self.path, {k.lower(): v for k, v in self.headers.items()}, raw)
                )
                status, body, hold, delay = service._answers.get(
                    self.path, (404, {"error": "not_found", "detail": self.path}, False, 0)
                )
                if hold:
                    service._release.wait(10)
                elif delay:
                    service._release.wait(delay)
                data = body if isinstance(body, bytes) else json.dumps(body).encode("utf-8")
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:
                    pass  # the client gave up (timeout tests)

            def log_message(self, *args):
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()

    @property
    def url(self):
        host, port = self._server.server_address
        return "http://%s:%d" % (host, port)

    def answer(self, path, body, status=200, hold=False, delay=0):
        self._answers[path] = (status, body, hold, delay)

    def close(self):
        self._release.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)


def closed_port_url():
    """A loopback URL on which nothing listens."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return "http://127.0.0.1:%d" % port


def make_conf(service_url, token=TOKEN, timeout=5.0, sync_interval=60):
    conf = cfg.ConfigOpts()
    config.register_opts(conf)
    conf(args=[], default_config_files=[])
    conf.set_override("service_url", service_url, group="spp")
    conf.set_override("auth_token", token, group="spp")
    conf.set_override("request_timeout", timeout, group="spp")
    conf.set_override("sync_interval", sync_interval, group="spp")
    return conf


def make_driver(service_url, **conf_args):
    driver = SppMechanismDriver(conf=make_conf(service_url, **conf_args))
    driver.initialize()
    return driver


def segment(seg_id, network_type, physnet, vid):
    # Shaped like ML2's segment dicts (they carry more keys, e.g. network_id and mtu).
    return {
        "id": seg_id,
        "network_type": network_type,
        "physical_network": physnet,
        "segmentation_id": vid,
        "network_id": "net-1",
        "mtu": 1500,
    }


class FakePortContext:
    """The parts of ML2's PortContext the driver uses."""

    def __init__(
        self,
        port_id="port-1",
        mac="fa:16:3e:00:00:01",
        host="compute-1",
        segments=(),
        agents=(),
        vnic_type="normal",
        vif_type="unbound",
        binding_levels=None,
        original=None,
    ):
        self.current = {
            "id": port_id,
            "mac_address": mac,
            "binding:host_id": host,
            "binding:vnic_type": vnic_type,
        }
        self.host = host
        self.segments_to_bind = list(segments)
        self._agents = list(agents)
        self.vif_type = vif_type
        self.binding_levels = binding_levels
        # original: None (a create) or dict(host=, vif_type=, binding_levels=)
        self.original = dict(self.current, **{"binding:host_id": original["host"]}) if original else None
        self.original_host = original["host"] if original else None
        self.original_vif_type = original["vif_type"] if original else None
        self.original_binding_levels = original.get("binding_levels") if original else None
        self.agent_queries = []
        self.bindings = []
        self.fail_host_agents = False
        self.fail_set_binding = False

    def host_agents(self, agent_type):
        self.agent_queries.append(agent_type)
        if self.fail_host_agents:
            raise RuntimeError("agents table unavailable")
        return self._agents

    def set_binding(self, segment_id, vif_type, vif_details, status=None):
        if self.fail_set_binding:
            raise RuntimeError("binding rejected")
        self.bindings.append((segment_id, vif_type, vif_details, status))


def level(driver, seg):
    return {"bound_driver": driver, "bound_segment": seg}
