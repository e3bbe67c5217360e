"""collect_bound_ports against Neutron's own models in a SQLite database.

Needs python3-neutron (Debian's neutron-server brings it); skipped without it.
"""

import os
import shutil
import tempfile
import unittest
from unittest import mock

from networking_spp_ml2 import sync

try:
    import neutron.db.migration.models.head  # noqa: F401  (every model, for the schema)
except ImportError:  # pragma: no cover
    neutron = None

NET = "11111111-1111-4111-8111-111111111111"
SEG_VLAN = "22222222-2222-4222-8222-222222222222"
SEG_FLAT = "22222222-2222-4222-8222-333333333333"
SEG_TOR = "22222222-2222-4222-8222-444444444444"
P1 = "33333333-3333-4333-8333-000000000001"
P2 = "33333333-3333-4333-8333-000000000002"
P_OVS = "33333333-3333-4333-8333-000000000003"
P_UNBOUND = "33333333-3333-4333-8333-000000000004"

_tmp = None


def setUpModule():
    global _tmp
    if neutron is None:
        raise unittest.SkipTest("python3-neutron is not installed")
    from neutron_lib.db import api as db_api
    from neutron_lib.db import model_base

    _tmp = tempfile.mkdtemp(prefix="spp-ml2-test-")
    manager = db_api.get_context_manager()
    manager.configure(connection="sqlite:///" + os.path.join(_tmp, "neutron.sqlite"))
    model_base.BASEV2.metadata.create_all(manager.writer.get_engine())
    _fill_database()


def tearDownModule():
    if _tmp:
        shutil.rmtree(_tmp, ignore_errors=True)


def _fill_database():
    from neutron.db import models_v2
    from neutron.db.models import segment as segment_models
    from neutron.plugins.ml2 import models as ml2_models
    from neutron_lib import context as n_context
    from neutron_lib.db import api as db_api

    ctx = n_context.get_admin_context()
    with db_api.CONTEXT_WRITER.using(ctx):
        add = ctx.session.add
        add(models_v2.Network(id=NET, name="n", project_id="p", admin_state_up=True, status="ACTIVE"))
        for seg_id, net_type, physnet, vid, index in [
            (SEG_VLAN, "vlan", "phys1", 300, 0),
            (SEG_FLAT, "flat", "phys2", None, 1),
            (SEG_TOR, "vxlan", None, 5001, 2),
        ]:
            add(
                segment_models.NetworkSegment(
                    id=seg_id,
                    network_id=NET,
                    network_type=net_type,
                    physical_network=physnet,
                    segmentation_id=vid,
                    segment_index=index,
                )
            )
        for port_id, mac in [
            (P1, "fa:16:3e:00:00:01"),
            (P2, "fa:16:3e:00:00:02"),
            (P_OVS, "fa:16:3e:00:00:03"),
            (P_UNBOUND, "fa:16:3e:00:00:04"),
        ]:
            add(
                models_v2.Port(
                    id=port_id,
                    network_id=NET,
                    mac_address=mac,
                    admin_state_up=True,
                    status="ACTIVE",
                    device_id="",
                    device_owner="compute:nova",
                    project_id="p",
                )
            )
        for port_id, host, level, driver, seg_id in [
            (P1, "compute-1", 0, "spp", SEG_VLAN),
            # hierarchical: another driver on top, spp below
            (P2, "compute-2", 0, "tor", SEG_TOR),
            (P2, "compute-2", 1, "spp", SEG_FLAT),
            (P_OVS, "compute-1", 0, "openvswitch", SEG_VLAN),
        ]:
            add(
                ml2_models.PortBindingLevel(
                    port_id=port_id, host=host, level=level, driver=driver, segment_id=seg_id
                )
            )


class FakeCorePlugin:
    def __init__(self, ports):
        self.ports = ports
        self.queries = []

    def get_ports(self, context, filters=None, fields=None):
        self.queries.append((sorted(filters["id"]), fields))
        return [
            {"id": port_id, "mac_address": mac}
            for port_id, mac in self.ports.items()
            if port_id in filters["id"]
        ]


class CollectBoundPortsTest(unittest.TestCase):
    def collect(self, plugin):
        with mock.patch("neutron_lib.plugins.directory.get_plugin", return_value=plugin):
            return sync.collect_bound_ports("spp")

    def test_lists_each_spp_binding_with_its_segment_and_mac(self):
        plugin = FakeCorePlugin({P1: "fa:16:3e:00:00:01", P2: "fa:16:3e:00:00:02"})
        ports = sorted(self.collect(plugin), key=lambda p: p["id"])
        self.assertEqual(
            ports,
            [
                {
                    "id": P1,
                    "host": "compute-1",
                    "mac_address": "fa:16:3e:00:00:01",
                    "segment": {
                        "id": SEG_VLAN,
                        "network_type": "vlan",
                        "physical_network": "phys1",
                        "segmentation_id": 300,
                    },
                },
                {
                    "id": P2,
                    "host": "compute-2",
                    "mac_address": "fa:16:3e:00:00:02",
                    "segment": {
                        "id": SEG_FLAT,
                        "network_type": "flat",
                        "physical_network": "phys2",
                        "segmentation_id": None,
                    },
                },
            ],
        )
        # only the ports bound by spp are looked up, and only their MACs are asked for
        self.assertEqual(plugin.queries, [(sorted([P1, P2]), ["id", "mac_address"])])

    def test_ports_gone_from_the_plugin_are_left_out(self):
        ports = self.collect(FakeCorePlugin({P2: "fa:16:3e:00:00:02"}))
        self.assertEqual([p["id"] for p in ports], [P2])


class DownPlugin:
    """get_ports honouring the id and status filters, as the core plugin does."""

    def __init__(self, ports):
        self.ports = ports  # id -> (status, binding host)
        self.queries = []

    def get_ports(self, context, filters=None, fields=None):
        self.queries.append((sorted(filters["id"]), filters.get("status"), fields))
        return [
            {"id": port_id, "binding:host_id": host}
            for port_id, (status, host) in self.ports.items()
            if port_id in filters["id"] and status in filters.get("status", [status])
        ]


class CollectDownActiveTest(unittest.TestCase):
    def test_only_down_ports_on_their_active_host(self):
        plugin = DownPlugin(
            {"a": ("DOWN", "compute-2"), "b": ("ACTIVE", "compute-1"), "c": ("DOWN", "compute-1")}
        )
        listed = [
            {"id": "a", "host": "compute-1"},  # the old (inactive) binding of a
            {"id": "a", "host": "compute-2"},  # its active one
            {"id": "b", "host": "compute-1"},
            {"id": "c", "host": "compute-2"},  # c is DOWN, but active on compute-1
        ]
        with mock.patch("neutron_lib.plugins.directory.get_plugin", return_value=plugin):
            down = sync.collect_down_active(listed)
        self.assertEqual(down, [{"id": "a", "host": "compute-2"}])
        self.assertEqual(plugin.queries, [(["a", "b", "c"], ["DOWN"], ["id", "binding:host_id"])])

    def test_nothing_listed_asks_nothing(self):
        self.assertEqual(sync.collect_down_active([]), [])


if __name__ == "__main__":
    unittest.main()
