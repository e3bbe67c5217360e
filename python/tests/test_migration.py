"""Live migration: the inactive binding's bind, and activation (multiple port bindings)."""

import unittest

from tests import support

SEG = support.segment("seg-1", "vlan", "phys2", 160)
SPP_LEVELS = [support.level("spp", SEG)]
DETAILS = {"port_filter": False, "vhostuser_mode": "server", "vhostuser_socket": "/tmp/sock2"}
BOUND = {
    "bound": True,
    "segment_id": "seg-1",
    "vif_type": "vhostuser",
    "vif_details": DETAILS,
    "vhost_id": 2,
}
UNPLUGGED = {"port_id": "port-1", "host": "compute-1", "result": "unplug_requested", "detail": ""}


class InactiveBindingTest(unittest.TestCase):
    def setUp(self):
        self.service = support.FakeService()
        self.addCleanup(self.service.close)
        self.service.answer("/v1/ml2/bind", BOUND)
        self.lookups = []
        self.active = "compute-1"

        def active_binding_host(context):
            self.lookups.append(context.current["id"])
            return self.active

        self.driver = support.SppMechanismDriver(
            conf=support.make_conf(self.service.url), active_binding_host=active_binding_host
        )
        self.driver.initialize()

    def bind(self, device_owner="compute:nova", host="compute-2"):
        context = support.FakePortContext(host=host, segments=[SEG])
        context.current["device_owner"] = device_owner
        self.driver.bind_port(context)
        return context

    def test_binding_on_another_host_than_the_active_one_names_the_active_host(self):
        context = self.bind()
        self.assertEqual(self.service.requests[0].body["active_host"], "compute-1")
        self.assertEqual(self.service.requests[0].body["host"], "compute-2")
        self.assertEqual(context.bindings, [("seg-1", "vhostuser", DETAILS, "ACTIVE")])

    def test_the_active_binding_itself_is_an_ordinary_bind(self):
        self.bind(host="compute-1")
        self.assertNotIn("active_host", self.service.requests[0].body)

    def test_ports_that_are_not_compute_ports_are_not_looked_up(self):
        self.bind(device_owner="network:dhcp")
        self.assertEqual(self.lookups, [])
        self.assertNotIn("active_host", self.service.requests[0].body)

    def test_a_failing_lookup_binds_as_usual(self):
        def broken(context):
            raise RuntimeError("database gone")

        self.driver._active_binding_host = broken
        context = self.bind()
        self.assertNotIn("active_host", self.service.requests[0].body)
        self.assertEqual(len(context.bindings), 1)


class ActivationTest(unittest.TestCase):
    def setUp(self):
        self.service = support.FakeService()
        self.addCleanup(self.service.close)
        self.service.answer("/v1/ml2/unbind", UNPLUGGED)
        self.provisioned = []
        self.driver = support.SppMechanismDriver(
            conf=support.make_conf(self.service.url),
            port_provisioned=lambda context, port_id: self.provisioned.append(port_id),
        )
        self.driver.initialize()

    def activated(self, vif_type="vhostuser", levels=SPP_LEVELS, status="DOWN"):
        """update_port_postcommit as Ml2Plugin.activate() calls it (host compute-2 from compute-1)."""
        context = support.FakePortContext(
            host="compute-2",
            vif_type=vif_type,
            binding_levels=levels,
            original={"host": "compute-1", "vif_type": vif_type, "binding_levels": None},
        )
        context.current["status"] = status
        self.driver.update_port_postcommit(context)
        return context

    def test_activation_confirms_the_new_host_and_sets_the_port_active(self):
        self.service.answer("/v1/ml2/activate", dict(BOUND, previous=UNPLUGGED))
        self.activated()
        self.assertEqual([r.path for r in self.service.requests], ["/v1/ml2/activate"])
        body = self.service.requests[0].body
        self.assertEqual(body["host"], "compute-2")
        self.assertEqual(body["previous_host"], "compute-1")
        self.assertEqual(body["port"], {"id": "port-1", "mac_address": "fa:16:3e:00:00:01"})
        self.assertEqual([s["id"] for s in body["segments"]], ["seg-1"])
        self.assertEqual(self.provisioned, ["port-1"])

    def test_new_host_not_plugged_leaves_the_port_down(self):
        self.service.answer(
            "/v1/ml2/activate",
            {"bound": False, "reason": "agent_down", "detail": "x", "previous": UNPLUGGED},
        )
        self.activated()
        self.assertEqual(self.provisioned, [])

    def test_service_unreachable_leaves_the_port_down_and_never_raises(self):
        self.service.answer("/v1/ml2/activate", {"error": "internal_error"}, status=500)
        self.activated()
        self.assertEqual(self.provisioned, [])

    def test_rollback_activation_of_an_unbound_binding_unbinds_the_previous_host(self):
        # Nova's rollback activates the source again; ML2 left that binding unbound.
        self.activated(vif_type="unbound", levels=None)
        self.assertEqual(
            [(r.path, r.body) for r in self.service.requests],
            [("/v1/ml2/unbind", {"port_id": "port-1", "host": "compute-1"})],
        )
        self.assertEqual(self.provisioned, [])

    def test_activation_of_another_drivers_binding_unbinds_the_previous_host(self):
        self.activated(levels=[support.level("openvswitch", SEG)])
        self.assertEqual([r.path for r in self.service.requests], ["/v1/ml2/unbind"])

    def test_an_ordinary_host_change_is_not_an_activation(self):
        # update_port: the old binding's VIF type is the original one, the new one unbound.
        context = support.FakePortContext(
            host="compute-2",
            vif_type="unbound",
            original={"host": "compute-1", "vif_type": "vhostuser", "binding_levels": SPP_LEVELS},
        )
        context.current["status"] = "DOWN"
        self.driver.update_port_postcommit(context)
        self.assertEqual([r.path for r in self.service.requests], ["/v1/ml2/unbind"])


class DownRepairTest(unittest.TestCase):
    """The sync sets ACTIVE the ports an unconfirmed activation left DOWN."""

    PORT = {"id": "port-1", "host": "compute-2", "mac_address": "fa:16:3e:00:00:01", "segment": SEG}
    SYNCED = {"unplug_requested": [], "cleaned": [], "plug_requested": [], "skipped": []}

    def setUp(self):
        self.service = support.FakeService()
        self.addCleanup(self.service.close)
        self.service.answer("/v1/ml2/sync", self.SYNCED)
        self.provisioned = []
        self.down_asked = []

        def collect_down(ports):
            self.down_asked.append(ports)
            return [p for p in ports if p["id"] == "port-1"]

        self.driver = support.SppMechanismDriver(
            conf=support.make_conf(self.service.url),
            collect_ports=lambda name: [self.PORT],
            collect_down=collect_down,
            port_provisioned=lambda context, port_id: self.provisioned.append(port_id),
        )
        self.driver.initialize()

    def test_a_down_port_plugged_on_its_active_host_is_set_active(self):
        self.service.answer("/v1/ml2/bind", BOUND)
        self.driver.sync_once()
        # DOWN at one sync only: maybe an activation in flight; nothing is done yet.
        self.assertEqual([r.path for r in self.service.requests], ["/v1/ml2/sync"])
        self.assertEqual(self.provisioned, [])
        self.service.requests.clear()
        self.driver.sync_once()
        self.assertEqual(self.down_asked, [[self.PORT], [self.PORT]])
        self.assertEqual([r.path for r in self.service.requests], ["/v1/ml2/sync", "/v1/ml2/bind"])
        self.assertEqual(
            self.service.requests[1].body,
            {
                "port": {"id": "port-1", "mac_address": "fa:16:3e:00:00:01"},
                "host": "compute-2",
                "segments": [SEG],
            },
        )
        self.assertEqual(self.provisioned, ["port-1"])

    def test_not_plugged_stays_down(self):
        self.service.answer("/v1/ml2/bind", {"bound": False, "reason": "no_free_vhost", "detail": ""})
        self.driver.sync_once()
        self.driver.sync_once()
        self.assertEqual([r.path for r in self.service.requests][-1], "/v1/ml2/bind")
        self.assertEqual(self.provisioned, [])

    def test_a_failed_sync_repairs_nothing(self):
        self.service.answer("/v1/ml2/sync", {"error": "x"}, status=500)
        self.driver.sync_once()
        self.assertEqual(self.down_asked, [])


if __name__ == "__main__":
    unittest.main()
