"""Unbinds sent from update_port_postcommit and delete_port_postcommit."""

import logging
import unittest

from tests import support

SEG = support.segment("seg-1", "flat", "phys1", None)
SPP_LEVELS = [support.level("spp", SEG)]
UNPLUGGED = {"port_id": "port-1", "host": "compute-1", "result": "unplug_requested", "detail": ""}


class UnbindTest(unittest.TestCase):
    def setUp(self):
        self.service = support.FakeService()
        self.addCleanup(self.service.close)
        self.service.answer("/v1/ml2/unbind", UNPLUGGED)
        self.driver = support.make_driver(self.service.url)

    def unbinds(self):
        return [(r.path, r.body) for r in self.service.requests]

    def updated(self, host, original_host, original_vif_type="vhostuser", levels=SPP_LEVELS):
        return support.FakePortContext(
            host=host,
            vif_type="unbound",
            original={
                "host": original_host,
                "vif_type": original_vif_type,
                "binding_levels": levels,
            },
        )

    def test_host_cleared_unbinds_on_the_old_host(self):
        self.driver.update_port_postcommit(self.updated(host="", original_host="compute-1"))
        self.assertEqual(
            self.unbinds(), [("/v1/ml2/unbind", {"port_id": "port-1", "host": "compute-1"})]
        )
        self.assertEqual(
            self.service.requests[0].headers["authorization"], "Bearer " + support.TOKEN
        )

    def test_host_changed_unbinds_on_the_old_host_only(self):
        self.driver.update_port_postcommit(self.updated(host="compute-2", original_host="compute-1"))
        self.assertEqual(
            self.unbinds(), [("/v1/ml2/unbind", {"port_id": "port-1", "host": "compute-1"})]
        )

    def test_same_host_does_not_unbind(self):
        self.driver.update_port_postcommit(self.updated(host="compute-1", original_host="compute-1"))
        self.assertEqual(self.unbinds(), [])

    def test_port_create_does_not_unbind(self):
        self.driver.update_port_postcommit(support.FakePortContext(host="compute-1"))
        self.assertEqual(self.unbinds(), [])

    def test_ports_of_other_drivers_are_left_alone(self):
        ovs_dpdk = [support.level("openvswitch", SEG)]
        self.driver.update_port_postcommit(
            self.updated(host="", original_host="compute-1", levels=ovs_dpdk)
        )
        self.driver.update_port_postcommit(
            self.updated(host="", original_host="compute-1", original_vif_type="ovs", levels=ovs_dpdk)
        )
        self.driver.update_port_postcommit(
            self.updated(host="", original_host="compute-1", original_vif_type="unbound", levels=[])
        )
        self.assertEqual(self.unbinds(), [])

    def test_failed_bindings_are_unbound_too(self):
        # The service may have plugged it after the driver's request timed out.
        self.driver.update_port_postcommit(
            self.updated(
                host="compute-2",
                original_host="compute-1",
                original_vif_type="binding_failed",
                levels=None,
            )
        )
        self.assertEqual(
            self.unbinds(), [("/v1/ml2/unbind", {"port_id": "port-1", "host": "compute-1"})]
        )

    def test_spp_below_another_driver_in_a_hierarchical_binding_counts(self):
        levels = [support.level("some_tor", SEG), support.level("spp", SEG)]
        self.driver.update_port_postcommit(
            self.updated(host="", original_host="compute-1", levels=levels)
        )
        self.assertEqual(len(self.unbinds()), 1)

    def test_delete_of_a_bound_port_unbinds(self):
        context = support.FakePortContext(
            host="compute-3", vif_type="vhostuser", binding_levels=SPP_LEVELS
        )
        self.driver.delete_port_postcommit(context)
        self.assertEqual(
            self.unbinds(), [("/v1/ml2/unbind", {"port_id": "port-1", "host": "compute-3"})]
        )

    def test_delete_of_unrelated_ports_does_not_unbind(self):
        self.driver.delete_port_postcommit(support.FakePortContext(host="", vif_type="unbound"))
        self.driver.delete_port_postcommit(
            support.FakePortContext(host="compute-1", vif_type="unbound")
        )
        self.driver.delete_port_postcommit(
            support.FakePortContext(
                host="compute-1",
                vif_type="vhostuser",
                binding_levels=[support.level("openvswitch", SEG)],
            )
        )
        self.driver.delete_port_postcommit(
            support.FakePortContext(host="compute-1", vif_type="ovs")
        )
        self.assertEqual(self.unbinds(), [])

    def test_failures_are_logged_not_raised(self):
        cases = [
            ("unreachable", support.closed_port_url(), None, 200),
            ("http", self.service.url, {"error": "internal", "detail": "etcd down"}, 500),
        ]
        for name, url, answer, status in cases:
            with self.subTest(name):
                if answer is not None:
                    self.service.answer("/v1/ml2/unbind", answer, status=status)
                driver = support.make_driver(url)
                with self.assertLogs("networking_spp_ml2.driver", logging.WARNING) as logs:
                    driver.update_port_postcommit(self.updated(host="", original_host="compute-1"))
                    driver.delete_port_postcommit(
                        support.FakePortContext(
                            host="compute-1", vif_type="vhostuser", binding_levels=SPP_LEVELS
                        )
                    )
                self.assertEqual(len(logs.records), 2)
                self.assertIn("full sync", logs.output[0])

    def test_broken_context_is_logged_not_raised(self):
        context = self.updated(host="", original_host="compute-1")
        context.current = None
        with self.assertLogs("networking_spp_ml2.driver", logging.ERROR):
            self.driver.update_port_postcommit(context)
        deleted = support.FakePortContext(host="compute-1", vif_type="vhostuser")
        deleted.current = {}
        with self.assertLogs("networking_spp_ml2.driver", logging.ERROR):
            self.driver.delete_port_postcommit(deleted)
        self.assertEqual(self.unbinds(), [])


if __name__ == "__main__":
    unittest.main()
