"""Periodic full sync: Neutron's list of SPP-bound ports, sent to the binding service.

ML2 asks every mechanism driver for workers (get_workers) and Neutron starts them
once per server, not once per API worker: the eventlet neutron-server in its services
worker process, newer releases with a uWSGI API in neutron-periodic-workers. So each
server runs exactly one sync loop; with several servers each runs its own, and the
service's sync is idempotent. Every wait is jittered so that servers started together
drift apart.
"""

import random
import threading

from neutron_lib.worker import BaseWorker
from oslo_log import log as logging

LOG = logging.getLogger(__name__)

# The first sync runs soon after start, within this many seconds (or the interval).
FIRST_SYNC_WITHIN = 10.0
JITTER = 0.1
_CHUNK = 500


class SyncWorker(BaseWorker):
    """Calls run_once at start and then about every interval seconds until stopped."""

    def __init__(self, run_once, interval, first_within=FIRST_SYNC_WITHIN, jitter=JITTER):
        # 0 processes: a thread in neutron-server's shared services worker process.
        super().__init__(worker_process_count=0, desc="SPP sync worker")
        self._run_once = run_once
        self._interval = float(interval)
        self._first_within = min(float(first_within), self._interval)
        self._jitter = jitter
        self._stop = threading.Event()
        self._thread = None

    def start(self, name="neutron-server", desc=None):
        super().start(name=name, desc=desc)
        # oslo.service restarts (SIGHUP) with stop() then start(); the old loop may
        # still be finishing a round, so each loop gets its own stop event.
        self._stop.set()
        self._stop = threading.Event()
        # A plain thread is a green thread in neutron-server (eventlet monkey-patches
        # threading), and a real one elsewhere; both work.
        self._thread = threading.Thread(
            target=self._loop, args=(self._stop,), name="spp-ml2-sync", daemon=True
        )
        self._thread.start()

    def stop(self):
        self._stop.set()

    def wait(self):
        thread = self._thread
        if thread is not None:
            thread.join(timeout=5.0)

    def reset(self):
        pass

    def _loop(self, stop):
        delay = random.uniform(0, self._first_within)
        LOG.info("SPP sync loop started: every %ss, first in %.1fs", self._interval, delay)
        while not stop.wait(delay):
            try:
                self._run_once()
            except Exception:
                LOG.exception("SPP sync round failed")
            delay = self._interval * random.uniform(1 - self._jitter, 1 + self._jitter)
        LOG.info("SPP sync loop stopped")


def collect_bound_ports(driver_name):
    """Every port binding made by driver_name, from Neutron's database.

    A port bound at several hosts (inactive bindings of a live migration) is listed
    once per host. Imports neutron lazily: only neutron-server has it.
    """
    from neutron.objects import ports as port_obj
    from neutron_lib import context as n_context
    from neutron_lib.plugins import directory

    ctx = n_context.get_admin_context()
    levels = port_obj.PortBindingLevel.get_objects(ctx, driver=driver_name)
    bindings = [
        {
            "port_id": level.port_id,
            "host": level.host,
            "segment": _segment_of(level.segment),
        }
        for level in levels
        if level.segment is not None
    ]
    port_ids = sorted({b["port_id"] for b in bindings})
    plugin = directory.get_plugin()
    macs = {}
    for start in range(0, len(port_ids), _CHUNK):
        for port in plugin.get_ports(
            ctx, filters={"id": port_ids[start : start + _CHUNK]}, fields=["id", "mac_address"]
        ):
            macs[port["id"]] = port["mac_address"]
    return sync_ports(bindings, macs)


def sync_ports(bindings, macs):
    """The "ports" of a sync request from binding rows and a port id -> MAC map.

    Bindings of ports that no longer exist (deleted meanwhile) are left out.
    """
    ports = []
    seen = set()
    for b in bindings:
        key = (b["port_id"], b["host"])
        mac = macs.get(b["port_id"])
        if mac is None or key in seen:
            continue
        seen.add(key)
        ports.append(
            {"id": b["port_id"], "host": b["host"], "mac_address": str(mac), "segment": b["segment"]}
        )
    return ports


def collect_down_active(ports):
    """The entries of `ports` (a sync list) whose binding is the port's ACTIVE one while
    the port is DOWN.

    A binding of this driver leaves its port ACTIVE; DOWN means an activation whose call to
    the service failed (live migration: ML2 sets the port DOWN on activation). Imports
    neutron lazily: only neutron-server has it.
    """
    from neutron_lib import context as n_context
    from neutron_lib.plugins import directory

    if not ports:
        return []
    ctx = n_context.get_admin_context()
    plugin = directory.get_plugin()
    port_ids = sorted({p["id"] for p in ports})
    active_host = {}
    for start in range(0, len(port_ids), _CHUNK):
        for port in plugin.get_ports(
            ctx,
            filters={"id": port_ids[start : start + _CHUNK], "status": ["DOWN"]},
            fields=["id", "binding:host_id"],
        ):
            active_host[port["id"]] = port.get("binding:host_id")
    return [p for p in ports if p["id"] in active_host and active_host[p["id"]] == p["host"]]


def _segment_of(segment):
    return {
        "id": segment.id,
        "network_type": segment.network_type,
        "physical_network": segment.physical_network,
        "segmentation_id": segment.segmentation_id,
    }


def summary(answer):
    """A one-line account of a sync answer."""
    parts = []
    for key in ("unplug_requested", "cleaned", "plug_requested", "skipped", "errors"):
        items = answer.get(key)
        if isinstance(items, list) and items:
            parts.append("%s=%d" % (key, len(items)))
    errors = answer.get("errors")
    if isinstance(errors, list) and errors:
        parts.append("first error: %s" % (errors[0],))
    return ", ".join(parts) or "no changes"
