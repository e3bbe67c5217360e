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

    def __init__(
        self,
        conf=None,
        client=None,
        collect_ports=None,
        active_binding_host=None,
        port_provisioned=None,
        collect_down=None,
    ):
        super().__init__()
        self._conf = conf if conf is not None else cfg.CONF
        config.register_opts(self._conf)
        self._client = client
        self._collect_ports = collect_ports
        # Test seams: the port's ACTIVE binding host, and "the port is plugged, set it ACTIVE".
        self._active_binding_host = active_binding_host
        self._port_provisioned = port_provisioned
        self._collect_down = collect_down
        self._down_seen = set()  # (port id, host) found DOWN by the previous sync
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
        active_host = self._active_host_elsewhere(context)
        if active_host:
            # An additional (inactive) binding of a live migration: the port stays bound
            # and plugged on active_host; the service binds it on this host as well.
            body["active_host"] = active_host
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
            "SPP bound port %s on host %s: segment %s, vhost %s%s",
            port_id,
            context.host,
            answer["segment_id"],
            answer.get("vhost_id"),
            " (inactive binding; active on %s)" % active_host if active_host else "",
        )

    def _active_host_elsewhere(self, context):
        """The host of the port's ACTIVE binding when this bind is for another host.

        ML2 binds a port's additional, INACTIVE binding (POST /v2.0/ports/{id}/bindings,
        Nova's live migration) with a PortContext for the new host only; whether the port
        is active elsewhere is in its binding rows. Only compute ports have several.
        """
        if not str(context.current.get("device_owner") or "").startswith("compute:"):
            return None
        try:
            lookup = self._active_binding_host or _active_binding_host
            host = lookup(context)
        except Exception as e:
            LOG.warning("SPP: cannot read the bindings of port %s: %s", _port_id(context), e)
            return None
        return host if host and host != context.host else None

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
            if context.host and _is_activation(context):
                self._activated(context, old_host)
                return
            if not _bound_here(context.original_vif_type, context.original_binding_levels):
                return
            self._unbind(context.current["id"], old_host)
        except Exception:
            LOG.exception("SPP unbind after update of port %s failed", _port_id(context))

    def _activated(self, context, old_host):
        """PUT /v2.0/ports/{id}/bindings/{host}/activate made this host's binding active.

        ML2 has cleared the binding on old_host and set the port DOWN; no bind_port runs.
        The old host is unplugged (as after any host change). When the newly active binding
        is this driver's, the service confirms (or restores) its plug on the new host and
        the port is set ACTIVE again, as a bind would have.
        """
        port = context.current
        port_id = port["id"]
        levels = context.binding_levels or []
        segment = levels[-1].get(api.BOUND_SEGMENT) if levels else None
        ours = (
            context.vif_type == portbindings.VIF_TYPE_VHOST_USER
            and any(level.get(api.BOUND_DRIVER) == DRIVER_NAME for level in levels)
            and segment
        )
        if not ours:
            # E.g. Nova's rollback activating the source binding again (which ML2 left
            # unbound): whatever this driver plugged on old_host goes.
            self._unbind(port_id, old_host)
            return
        body = {
            "port": {"id": port_id, "mac_address": port["mac_address"]},
            "host": context.host,
            "segments": [_segment(segment)],
            "previous_host": old_host,
        }
        self._logged.forget_port(port_id)
        with self._held_off_lock:
            self._held_off.pop((port_id, old_host), None)
        answer, error = _ask(self._client.activate, body)
        if error is not None:
            LOG.warning(
                "SPP activation of port %s on host %s failed (%s: %s); the port stays DOWN "
                "until a full sync finds it plugged there, and the sync unplugs it from "
                "host %s",
                port_id,
                context.host,
                error.reason,
                error.detail,
                old_host,
            )
            return
        if answer.get("bound") is not True:
            LOG.warning(
                "SPP activation of port %s on host %s: not plugged there (%s %s); the port "
                "stays DOWN until a full sync plugs it",
                port_id,
                context.host,
                answer.get("reason"),
                answer.get("detail"),
            )
            return
        plugin_context = getattr(context, "_plugin_context", None)
        (self._port_provisioned or _provisioning_complete)(plugin_context, port_id)
        previous = answer.get("previous") or {}
        LOG.info(
            "SPP activated port %s on host %s (vhost %s); host %s: %s",
            port_id,
            context.host,
            answer.get("vhost_id"),
            old_host,
            previous.get("result"),
        )

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
        self._repair_down(ports)
        self._sync_taps()
        return answer

    def _repair_down(self, ports):
        """Sets ACTIVE the ports left DOWN by an activation the service did not confirm.

        A port is repaired when this sync and the previous one both found it DOWN on its
        active binding of this driver.

        For each port DOWN on its active binding of this driver, the service is asked for an
        ordinary, idempotent bind on that host (answered at once when it is plugged and up,
        plugged again otherwise); once bound the port's L2 provisioning is completed.
        """
        try:
            down = (self._collect_down or sync.collect_down_active)(ports)
        except Exception:
            LOG.exception("SPP sync: cannot list the DOWN ports")
            return
        # Only ports DOWN at two syncs in a row: an activation in flight is DOWN for a
        # moment, and completing its provisioning from here could race Nova's next step.
        seen_before = self._down_seen
        self._down_seen = {(p["id"], p["host"]) for p in down}
        for port in [p for p in down if (p["id"], p["host"]) in seen_before]:
            body = {
                "port": {"id": port["id"], "mac_address": port["mac_address"]},
                "host": port["host"],
                "segments": [port["segment"]],
            }
            answer, error = _ask(self._client.bind, body)
            if error is not None or answer.get("bound") is not True:
                reason = error.reason if error is not None else answer.get("reason")
                LOG.warning(
                    "SPP sync: port %s is DOWN on host %s and not plugged there (%s)",
                    port["id"],
                    port["host"],
                    reason,
                )
                continue
            try:
                (self._port_provisioned or _provisioning_complete)(None, port["id"])
            except Exception:
                LOG.exception("SPP sync: cannot set port %s ACTIVE", port["id"])
                continue
            LOG.info(
                "SPP sync: port %s plugged on host %s (vhost %s) was DOWN; set ACTIVE",
                port["id"],
                port["host"],
                answer.get("vhost_id"),
            )

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


def _is_activation(context):
    """Whether update_port_postcommit comes from activating an inactive binding.

    Facts of Zed's Ml2Plugin.activate: the port is set DOWN, and the PortContext of the
    postcommit is built from the newly active binding itself, so its "original" VIF type
    is that binding's (an ordinary host change passes the old binding's, and the port is
    either DOWN with the new binding still unbound, or ACTIVE once bound).
    """
    return (
        context.current.get("status") == n_const.PORT_STATUS_DOWN
        and context.original_vif_type == context.vif_type
    )


def _active_binding_host(context):
    """The host of the port's ACTIVE binding in Neutron's database (neutron-server only)."""
    from neutron.objects import ports as port_obj

    for binding in port_obj.PortBinding.get_objects(
        context._plugin_context, port_id=context.current["id"]
    ):
        if binding.status == n_const.ACTIVE and binding.host:
            return binding.host
    return None


def _provisioning_complete(plugin_context, port_id):
    """Sets the port ACTIVE the way ML2 does once its L2 wiring is done.

    The driver inserts no provisioning block, so completing the L2 entity makes ML2's
    provisioning-complete handler set the port ACTIVE (OVN's driver does the same).
    """
    from neutron.db import provisioning_blocks
    from neutron_lib.callbacks import resources

    if plugin_context is None:
        from neutron_lib import context as n_context

        plugin_context = n_context.get_admin_context()
    provisioning_blocks.provisioning_complete(
        plugin_context, port_id, resources.PORT, provisioning_blocks.L2_AGENT_ENTITY
    )


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
