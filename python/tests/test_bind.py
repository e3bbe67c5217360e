"""bind_port against a real HTTP server standing in for the binding service."""

import logging
import time
import unittest
from unittest import mock

from tests import support

SEG_VXLAN = support.segment("seg-vx", "vxlan", None, 1001)
SEG_VLAN = support.segment("seg-vl", "vlan", "phys1", 300)
AGENT = {
    "id": "agent-1",
    "agent_type": "SPP neutron agent",
    "binary": "neutron-spp-agent",
    "host": "compute-1",
    "alive": True,
    "admin_state_up": True,
    "configurations": {},
}
DETAILS = {"port_filter": False, "vhostuser_mode": "server", "vhostuser_socket": "/tmp/sock3"}
BOUND = {
    "bound": True,
    "segment_id": "seg-vl",
    "vif_type": "vhostuser",
    "vif_details": DETAILS,
    "vhost_id": 3,
}
DRIVER_LOG = "networking_spp_ml2.driver"


class BindTest(unittest.TestCase):
    def setUp(self):
        self.service = support.FakeService()
        self.addCleanup(self.service.close)
        self.driver = support.make_driver(self.service.url)

    def paths(self):
        return [r.path for r in self.service.requests]

    def context(self, **kwargs):
        args = dict(segments=[SEG_VXLAN, SEG_VLAN], agents=[AGENT])
        args.update(kwargs)
        return support.FakePortContext(**args)

    def test_bound_answer_sets_the_binding_active(self):
        self.service.answer("/v1/ml2/bind", BOUND)
        context = self.context()
        self.driver.bind_port(context)
        self.assertEqual(context.bindings, [("seg-vl", "vhostuser", DETAILS, "ACTIVE")])

    def test_request_path_token_and_body(self):
        self.service.answer("/v1/ml2/bind", BOUND)
        context = self.context(port_id="p-77", mac="fa:16:3e:12:34:56", host="compute-1")
        self.driver.bind_port(context)
        self.assertEqual(len(self.service.requests), 1)
        request = self.service.requests[0]
        self.assertEqual(request.path, "/v1/ml2/bind")
        self.assertEqual(request.headers["authorization"], "Bearer " + support.TOKEN)
        self.assertEqual(request.headers["content-type"], "application/json")
        self.assertEqual(
            request.body,
            {
                "port": {"id": "p-77", "mac_address": "fa:16:3e:12:34:56"},
                "host": "compute-1",
                "segments": [
                    {
                        "id": "seg-vx",
                        "network_type": "vxlan",
                        "physical_network": None,
                        "segmentation_id": 1001,
                    },
                    {
                        "id": "seg-vl",
                        "network_type": "vlan",
                        "physical_network": "phys1",
                        "segmentation_id": 300,
                    },
                ],
                "agents": [{"alive": True, "host": "compute-1"}],
            },
        )
        self.assertEqual(context.agent_queries, ["SPP neutron agent"])

    def test_dead_and_missing_agents_are_sent_as_neutron_sees_them(self):
        self.service.answer("/v1/ml2/bind", {"bound": False, "reason": "agent_down", "detail": ""})
        dead = dict(AGENT, alive=False)
        self.driver.bind_port(self.context(agents=[dead]))
        self.driver.bind_port(self.context(port_id="port-2", agents=[]))
        bodies = [r.body for r in self.service.requests]
        self.assertEqual(bodies[0]["agents"], [{"alive": False, "host": "compute-1"}])
        self.assertEqual(bodies[1]["agents"], [])

    def test_agents_left_out_when_neutron_cannot_list_them(self):
        self.service.answer("/v1/ml2/bind", BOUND)
        context = self.context()
        context.fail_host_agents = True
        self.driver.bind_port(context)
        self.assertNotIn("agents", self.service.requests[0].body)
        self.assertEqual(len(context.bindings), 1)

    def test_no_token_configured_sends_no_authorization(self):
        driver = support.make_driver(self.service.url, token=None)
        self.service.answer("/v1/ml2/bind", BOUND)
        driver.bind_port(self.context())
        self.assertNotIn("authorization", self.service.requests[0].headers)

    def test_refusal_does_not_bind_and_logs_once_per_port_and_reason(self):
        self.service.answer(
            "/v1/ml2/bind", {"bound": False, "reason": "no_free_vhost", "detail": "phys1: 2 of 2 used"}
        )
        context = self.context()
        with self.assertLogs(DRIVER_LOG, logging.WARNING) as logs:
            self.driver.bind_port(context)
            self.driver.bind_port(context)
            self.driver.bind_port(self.context(port_id="port-2"))
            self.service.answer("/v1/ml2/bind", {"bound": False, "reason": "timeout", "detail": "20s"})
            self.driver.bind_port(context)
        self.assertEqual(context.bindings, [])
        self.assertEqual(len(self.service.requests), 4)
        warnings = [r.getMessage() for r in logs.records]
        self.assertEqual(len(warnings), 3, warnings)
        self.assertIn("port-1", warnings[0])
        self.assertIn("no_free_vhost", warnings[0])
        self.assertIn("phys1: 2 of 2 used", warnings[0])
        self.assertIn("port-2", warnings[1])
        self.assertIn("timeout", warnings[2])

    def test_not_an_spp_host_is_not_a_warning(self):
        self.service.answer("/v1/ml2/bind", {"bound": False, "reason": "not_spp_host", "detail": ""})
        context = self.context()
        with self.assertNoLogs(DRIVER_LOG, logging.WARNING):
            self.driver.bind_port(context)
        self.assertEqual(context.bindings, [])
        self.assertEqual(len(self.service.requests), 1)

    def test_unreachable_service_does_not_bind(self):
        driver = support.make_driver(support.closed_port_url())
        context = self.context()
        with self.assertLogs(DRIVER_LOG, logging.WARNING) as logs:
            driver.bind_port(context)
        self.assertEqual(context.bindings, [])
        self.assertIn("service_unreachable", logs.output[0])

    def test_slow_service_times_out_and_does_not_bind(self):
        driver = support.make_driver(self.service.url, timeout=0.3)
        self.service.answer("/v1/ml2/bind", BOUND, hold=True)
        context = self.context()
        with self.assertLogs(DRIVER_LOG, logging.WARNING) as logs:
            driver.bind_port(context)
        self.assertEqual(context.bindings, [])
        self.assertIn("service_timeout", logs.output[0])
        # the service may still bind it after the driver gave up: undone at once
        self.assertEqual(
            [(r.path, r.body) for r in self.service.requests[1:]],
            [("/v1/ml2/unbind", {"port_id": "port-1", "host": "compute-1"})],
        )

    def test_invalid_json_does_not_bind(self):
        self.service.answer("/v1/ml2/bind", b"{bound: yes")
        self.service.answer("/v1/ml2/unbind", {"result": "not_found"})
        context = self.context()
        with self.assertLogs(DRIVER_LOG, logging.WARNING) as logs:
            self.driver.bind_port(context)
        self.assertEqual(context.bindings, [])
        self.assertIn("invalid_answer", logs.output[0])
        self.assertEqual(self.paths(), ["/v1/ml2/bind", "/v1/ml2/unbind"])

    def test_json_that_is_not_an_object_does_not_bind(self):
        self.service.answer("/v1/ml2/bind", [BOUND])
        context = self.context()
        with self.assertLogs(DRIVER_LOG, logging.WARNING) as logs:
            self.driver.bind_port(context)
        self.assertEqual(context.bindings, [])
        self.assertIn("invalid_answer", logs.output[0])

    def test_bound_answer_with_a_segment_not_offered_does_not_bind(self):
        self.service.answer("/v1/ml2/bind", dict(BOUND, segment_id="seg-other"))
        self.service.answer("/v1/ml2/unbind", {"result": "unplug_requested"})
        context = self.context()
        with self.assertLogs(DRIVER_LOG, logging.WARNING) as logs:
            self.driver.bind_port(context)
        self.assertEqual(context.bindings, [])
        self.assertIn("seg-other", logs.output[0])
        # the service plugged it; Neutron will not use it
        self.assertEqual(self.service.requests[1].body, {"port_id": "port-1", "host": "compute-1"})

    def test_bound_answer_without_vif_details_does_not_bind(self):
        answer = dict(BOUND)
        del answer["vif_details"]
        self.service.answer("/v1/ml2/bind", answer)
        context = self.context()
        with self.assertLogs(DRIVER_LOG, logging.WARNING):
            self.driver.bind_port(context)
        self.assertEqual(context.bindings, [])

    def test_http_error_does_not_bind(self):
        self.service.answer(
            "/v1/ml2/bind", {"error": "unauthorized", "detail": "bad token"}, status=401
        )
        context = self.context()
        with self.assertLogs(DRIVER_LOG, logging.WARNING) as logs:
            self.driver.bind_port(context)
        self.assertEqual(context.bindings, [])
        self.assertIn("service_http_error", logs.output[0])
        self.assertIn("401", logs.output[0])
        self.assertIn("unauthorized", logs.output[0])
        # rejected before anything was done: nothing to undo
        self.assertEqual(self.paths(), ["/v1/ml2/bind"])

    def test_server_error_is_undone(self):
        self.service.answer("/v1/ml2/bind", {"error": "internal", "detail": "boom"}, status=500)
        self.service.answer("/v1/ml2/unbind", {"result": "not_found"})
        context = self.context()
        with self.assertLogs(DRIVER_LOG, logging.WARNING):
            self.driver.bind_port(context)
        self.assertEqual(context.bindings, [])
        self.assertEqual(self.paths(), ["/v1/ml2/bind", "/v1/ml2/unbind"])

    def test_refusals_are_not_undone(self):
        self.service.answer("/v1/ml2/bind", {"bound": False, "reason": "timeout", "detail": ""})
        self.driver.bind_port(self.context())
        self.assertEqual(self.paths(), ["/v1/ml2/bind"])

    def test_errors_inside_ml2_calls_are_not_raised(self):
        self.service.answer("/v1/ml2/bind", BOUND)
        context = self.context()
        context.fail_set_binding = True
        with self.assertLogs(DRIVER_LOG, logging.ERROR):
            self.driver.bind_port(context)
        broken = self.context()
        broken.current = {}  # no id, no MAC
        with self.assertLogs(DRIVER_LOG, logging.ERROR):
            self.driver.bind_port(broken)

    def test_non_normal_vnic_and_hostless_ports_are_not_asked_about(self):
        self.service.answer("/v1/ml2/bind", BOUND)
        direct = self.context(vnic_type="direct")
        hostless = self.context(host="")
        self.driver.bind_port(direct)
        self.driver.bind_port(hostless)
        self.assertEqual(self.service.requests, [])
        self.assertEqual(direct.bindings + hostless.bindings, [])

    def test_a_later_bind_logs_a_refusal_again(self):
        refused = {"bound": False, "reason": "agent_down", "detail": ""}
        context = self.context()
        with self.assertLogs(DRIVER_LOG, logging.WARNING) as logs:
            self.service.answer("/v1/ml2/bind", refused)
            self.driver.bind_port(context)
            self.service.answer("/v1/ml2/bind", BOUND)
            self.driver.bind_port(context)
            self.service.answer("/v1/ml2/bind", refused)
            self.driver.bind_port(context)
        self.assertEqual(len([r for r in logs.records if "agent_down" in r.getMessage()]), 2)

    def test_slow_failures_hold_off_ml2s_immediate_retries(self):
        self.driver.slow_failure_seconds = 0.1
        self.service.answer(
            "/v1/ml2/bind", {"bound": False, "reason": "timeout", "detail": "20s"}, delay=0.2
        )
        first = self.context()
        self.driver.bind_port(first)
        # ML2's next attempts, at once: refused without asking the service
        for _ in range(3):
            self.driver.bind_port(self.context())
        self.assertEqual(len(self.service.requests), 1)
        # other hosts and ports are asked as usual
        self.service.answer("/v1/ml2/bind", BOUND)
        other_port = self.context(port_id="port-2")
        self.driver.bind_port(other_port)
        self.assertEqual(len(self.service.requests), 2)
        self.assertEqual(len(other_port.bindings), 1)
        # once the hold-off is over the port is asked about again
        later = time.monotonic() + self.driver.hold_off_seconds + 1
        again = self.context()
        with mock.patch("networking_spp_ml2.driver._now", return_value=later):
            self.driver.bind_port(again)
        self.assertEqual(len(self.service.requests), 3)
        self.assertEqual(len(again.bindings), 1)

    def test_fast_failures_do_not_hold_off(self):
        self.service.answer("/v1/ml2/bind", {"bound": False, "reason": "agent_down", "detail": ""})
        for _ in range(3):
            self.driver.bind_port(self.context())
        self.assertEqual(len(self.service.requests), 3)

    def test_unbind_ends_the_hold_off(self):
        self.driver.slow_failure_seconds = 0
        self.service.answer("/v1/ml2/bind", {"bound": False, "reason": "timeout", "detail": ""})
        self.service.answer("/v1/ml2/unbind", {"result": "not_found"})
        self.driver.bind_port(self.context())
        self.driver.delete_port_postcommit(
            support.FakePortContext(host="compute-1", vif_type="binding_failed")
        )
        self.service.answer("/v1/ml2/bind", BOUND)
        context = self.context()
        self.driver.bind_port(context)
        self.assertEqual([r.path for r in self.service.requests].count("/v1/ml2/bind"), 2)
        self.assertEqual(len(context.bindings), 1)


class DriverPropertiesTest(unittest.TestCase):
    def test_connectivity_is_l2(self):
        driver = support.make_driver(support.closed_port_url())
        self.assertEqual(driver.connectivity, "l2")

    def test_one_sync_worker_unless_disabled(self):
        from networking_spp_ml2 import sync

        workers = support.make_driver(support.closed_port_url(), sync_interval=45).get_workers()
        self.assertEqual(len(workers), 1)
        self.assertIsInstance(workers[0], sync.SyncWorker)
        # 0 processes: a thread in neutron-server's services worker, not a process per worker.
        self.assertEqual(workers[0].worker_process_count, 0)
        self.assertEqual(
            support.make_driver(support.closed_port_url(), sync_interval=0).get_workers(), []
        )


if __name__ == "__main__":
    unittest.main()
