"""The ML2 mechanism driver 'spp'.

It decides nothing: bind_port, unbinds and the periodic full sync are forwarded to the
binding service (docs/server-api.md), and its answers are applied. It never raises
into ML2: any failure is logged and the port is simply not bound by this driver.
"""

import threading
from time import monotonic as _now

from neutron_lib import constants as n_const
from neutron_lib.api.definitions import portbindings
from neutron_lib.plugins.ml2 import api
from oslo_config import cfg
from oslo_log import log as logging

from networking_spp_ml2 import client as client_mod
from networking_spp_ml2 import config
from networking_spp_ml2 import log_once
from networking_spp_ml2 import sync

LOG = logging.getLogger(__name__)

# The entry-point name, which ML2 records as the bound driver of the binding levels.
DRIVER_NAME = "spp"
AGENT_TYPE = "SPP neutron agent"

# Refusals that only mean "not an SPP port": another driver may bind it.
_QUIET_REASONS = frozenset(["not_spp_host", "no_segment"])
# Held-off binds answer with this reason (no request to the service).
HELD_OFF = "held_off"

config.register_opts(cfg.CONF)


class SppMechanismDriver(api.MechanismDriver):
    """Binds ports as vhostuser through the networking-spp binding service."""

    # ML2 tries a failed binding up to 10 times in a row within one API request. After
    # a bind that failed slowly (the service waited for the agent, or did not answer),
    # the same port and host are refused at once for a while, so that one request does
    # not wait 10 times request_timeout.
    slow_failure_seconds = 2.0
    hold_off_seconds = 10.0

    def __init__(self, conf=None, client=None, collect_ports=None):
        super().__init__()
        self._conf = conf if conf is not None else cfg.CONF
        config.register_opts(self._conf)
        self._client = client
        self._collect_ports = collect_ports
        self._logged = log_once.LogOnce()
        self._held_off = {}  # (port id, host) -> monotonic time the hold-off ends
        self._held_off_lock = threading.Lock()

    def initialize(self):
        group = self._conf.spp
        if self._client is None:
            self._client = client_mod.ServiceClient.from_conf(group)
        LOG.info(
            "SPP mechanism driver: binding service %s, request_timeout %ss, "
            "sync_interval %ss, token %s",
            group.service_url,
            group.request_timeout,
            group.sync_interval,
            "set" if group.auth_token else "unset",
        )

    @property
    def connectivity(self):
        # l2: ports without IP addresses (the usual case on SPP networks) bind too.
        return portbindings.CONNECTIVITY_L2

    def get_workers(self):
        """One sync worker per neutron-server (ML2 starts plugin workers once per server)."""
        interval = self._conf.spp.sync_interval
        if interval <= 0:
            return []
        return [sync.SyncWorker(self.sync_once, interval)]

    # -- binding ---------------------------------------------------------------

    def bind_port(self, context):
        try:
            self._bind_port(context)
        except Exception:
            LOG.exception("SPP bind of port %s failed", _port_id(context))

    def _bind_port(self, context):
        port = context.current
        port_id = port["id"]
        vnic_type = port.get(portbindings.VNIC_TYPE, portbindings.VNIC_NORMAL)
        if vnic_type != portbindings.VNIC_NORMAL or not context.host:
            return
        if self._is_held_off(port_id, context.host):
            self._refused(port_id, context.host, HELD_OFF, "a bind failed slowly just before")
            return
        segments = [_segment(s) for s in context.segments_to_bind or []]
        body = {
            "port": {"id": port_id, "mac_address": port["mac_address"]},
            "host": context.host,
            "segments": segments,
        }
        agents = self._host_agents(context)
        if agents is not None:
            body["agents"] = agents
        started = _now()
        answer, error = _ask(self._client.bind, body)
        if error is not None:
            self._failed_after(port_id, context.host, started)
            self._refused(port_id, context.host, error.reason, error.detail)
            if error.may_have_acted:
                self._undo(port_id, context.host)
            return
        if answer.get("bound") is not True:
            self._failed_after(port_id, context.host, started)
            self._refused(
                port_id,
                context.host,
                str(answer.get("reason") or "unknown"),
                str(answer.get("detail") or ""),
            )
            return
        problem = _bound_answer_problem(answer, segments)
        if problem:
            self._refused(port_id, context.host, client_mod.INVALID_ANSWER, problem)
            self._undo(port_id, context.host)
            return
        context.set_binding(
            answer["segment_id"],
            answer["vif_type"],
            answer["vif_details"],
            status=self._bound_status(answer),
        )
        self._logged.forget_port(port_id)
        LOG.info(
            "SPP bound port %s on host %s: segment %s, vhost %s",
            port_id,
            context.host,
            answer["segment_id"],
            answer.get("vhost_id"),
        )

    def _bound_status(self, answer):
        """Port status passed to set_binding.

        The service answers "bound" only once the agent reported the port up (a
        waiting bind), so the port is ACTIVE at once. A non-waiting mode would
        return None here and let provisioning blocks set the status instead.
        """
        return n_const.PORT_STATUS_ACTIVE

    def _undo(self, port_id, host):
        """Unbinds a port the service may have plugged although Neutron will not bind it.

        E.g. the service was still waiting for the agent when request_timeout ended the
        request: its bind would succeed later, unseen. The unbind ends such a waiting
        bind at once and unplugs what it did (a no-op when it did nothing).
        """
        answer, error = _ask(self._client.unbind, port_id, host)
        if error is not None:
            LOG.warning(
                "SPP: cannot undo the failed bind of port %s on host %s (%s: %s); the "
                "next full sync repairs it",
                port_id,
                host,
                error.reason,
                error.detail,
            )
            return
        LOG.debug("SPP undid the failed bind of port %s on host %s: %s", port_id, host, answer)

    def _failed_after(self, port_id, host, started):
        now = _now()
        if now - started < self.slow_failure_seconds:
            return
        with self._held_off_lock:
            for key in [k for k, until in self._held_off.items() if until <= now]:
                del self._held_off[key]
            self._held_off[(port_id, host)] = now + self.hold_off_seconds

    def _is_held_off(self, port_id, host):
        with self._held_off_lock:
            until = self._held_off.get((port_id, host))
            return until is not None and _now() < until

    def _host_agents(self, context):
        """Neutron's view of the host's SPP agents, or None when it cannot be read."""
        try:
            return [
                {"alive": bool(agent.get("alive")), "host": agent.get("host")}
                for agent in context.host_agents(AGENT_TYPE) or []
            ]
        except Exception as e:
            LOG.warning("SPP: cannot list agents of host %s: %s", context.host, e)
            return None

    def _refused(self, port_id, host, reason, detail):
        if self._logged.first_time(port_id, reason):
            log = LOG.debug if reason in _QUIET_REASONS else LOG.warning
            log("SPP did not bind port %s on host %s: %s %s", port_id, host, reason, detail)
        else:
            LOG.debug("SPP did not bind port %s on host %s: %s (again)", port_id, host, reason)

    # -- unbinding -------------------------------------------------------------

    def update_port_postcommit(self, context):
        try:
            old_host = context.original_host
            if not old_host or context.host == old_host:
                return
            if not _bound_here(context.original_vif_type, context.original_binding_levels):
                return
            self._unbind(context.current["id"], old_host)
        except Exception:
            LOG.exception("SPP unbind after update of port %s failed", _port_id(context))

    def delete_port_postcommit(self, context):
        try:
            if context.host and _bound_here(context.vif_type, context.binding_levels):
                self._unbind(context.current["id"], context.host)
        except Exception:
            LOG.exception("SPP unbind after delete of port %s failed", _port_id(context))

    def _unbind(self, port_id, host):
        self._logged.forget_port(port_id)
        with self._held_off_lock:
            self._held_off.pop((port_id, host), None)
        answer, error = _ask(self._client.unbind, port_id, host)
        if error is not None:
            LOG.warning(
                "SPP unbind of port %s on host %s failed (%s: %s); the next full sync "
                "repairs it",
                port_id,
                host,
                error.reason,
                error.detail,
            )
            return
        LOG.info("SPP unbind of port %s on host %s: %s", port_id, host, answer.get("result"))

    # -- full sync -------------------------------------------------------------

    def sync_once(self):
        """Sends Neutron's complete list of SPP-bound ports to the service; never raises."""
        try:
            collect = self._collect_ports or sync.collect_bound_ports
            ports = collect(DRIVER_NAME)
        except Exception:
            LOG.exception("SPP sync: cannot list the bound ports")
            return None
        try:
            answer, error = _ask(self._client.sync, ports)
        except Exception:
            LOG.exception("SPP sync failed")
            return None
        if error is not None:
            LOG.warning(
                "SPP sync of %d ports failed: %s: %s", len(ports), error.reason, error.detail
            )
            return None
        LOG.info("SPP sync of %d ports: %s", len(ports), sync.summary(answer))
        self._sync_taps()
        return answer

    def _sync_taps(self):
        """The tap flows' full sync rides on the ports' (when the TaaS plugin is loaded)."""
        try:
            from networking_spp_ml2 import taas

            taas.sync_tap_flows(self._client)
        except Exception:
            LOG.exception("SPP TaaS sync failed")


def _ask(call, *args):
    """(answer, None) or (None, ServiceError).

    The caller logs outside the except block: oslo.log appends the exception being
    handled to warnings logged inside one.
    """
    try:
        return call(*args), None
    except client_mod.ServiceError as e:
        return None, e


def _bound_here(vif_type, levels):
    """Whether a binding may have come from this driver (then the service must unbind it).

    vhostuser ports are other drivers' too (OVS-DPDK): those carry their own bound
    driver in the levels. binding_failed ports may have left state in SPP when the
    service's bind outlived request_timeout; an unbind of an unknown port is harmless.
    """
    if vif_type == portbindings.VIF_TYPE_BINDING_FAILED:
        return True
    if vif_type != portbindings.VIF_TYPE_VHOST_USER:
        return False
    if not levels:
        return True
    return any(level.get(api.BOUND_DRIVER) == DRIVER_NAME for level in levels)


def _segment(segment):
    return {
        "id": segment[api.ID],
        "network_type": segment[api.NETWORK_TYPE],
        "physical_network": segment.get(api.PHYSICAL_NETWORK),
        "segmentation_id": segment.get(api.SEGMENTATION_ID),
    }


def _bound_answer_problem(answer, segments):
    if answer.get("segment_id") not in [s["id"] for s in segments]:
        return "segment_id %r is none of the offered segments" % (answer.get("segment_id"),)
    if not isinstance(answer.get("vif_type"), str) or not answer["vif_type"]:
        return "vif_type missing"
    if not isinstance(answer.get("vif_details"), dict):
        return "vif_details is not an object"
    return None


def _port_id(context):
    try:
        return context.current["id"]
    except Exception:
        return "?"
