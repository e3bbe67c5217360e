"""The TaaS service driver: tap flows forwarded to the service, statuses from its answers."""

import unittest
from unittest import mock

from neutron_lib import exceptions as n_exc
from neutron_taas.db import taas_db

from networking_spp_ml2 import taas
from tests import support


class FakePlugin:
    def get_tap_service(self, context, tap_service_id):
        return {"id": tap_service_id, "port_id": "svc-port"}


class FakeFlowContext:
    def __init__(self, status="DOWN"):
        self._plugin_context = object()
        self.tap_flow = {
            "id": "flow-1",
            "tap_service_id": "ts-1",
            "source_port": "src-port",
            "direction": "BOTH",
            "status": status,
        }


class FakeServiceContext:
    def __init__(self):
        self._plugin_context = object()
        self.tap_service = {"id": "ts-1", "port_id": "svc-port", "status": "DOWN"}


class TaasDriverTest(unittest.TestCase):
    def setUp(self):
        self.service = support.FakeService()
        self.addCleanup(self.service.close)
        self.plugin = FakePlugin()
        for name in ("update_tap_flow", "delete_tap_flow", "update_tap_service", "delete_tap_service"):
            patcher = mock.patch.object(taas_db.Taas_db_Mixin, name)
            setattr(self, name, patcher.start())
            self.addCleanup(patcher.stop)

    def driver(self, url=None):
        conf = support.make_conf(url or self.service.url)
        return taas.SppTaasDriver(self.plugin, conf=conf)

    def test_active_answer_sets_active_and_sends_the_flow(self):
        self.service.answer(
            taas.FLOWS_PATH, {"active": True, "host": "compute-1", "mirror_in": 0, "mirror_out": 1}
        )
        context = FakeFlowContext()
        self.driver().create_tap_flow_postcommit(context)
        self.assertEqual(context.tap_flow["status"], "ACTIVE")
        self.update_tap_flow.assert_called_once_with(
            self.plugin, context._plugin_context, "flow-1", {"tap_flow": {"status": "ACTIVE"}}
        )
        request = self.service.requests[0]
        self.assertEqual(request.headers["authorization"], "Bearer " + support.TOKEN)
        self.assertEqual(
            request.body,
            {
                "tap_flow": {"id": "flow-1", "source_port": "src-port", "direction": "BOTH"},
                "tap_service": {"port_id": "svc-port"},
            },
        )

    def test_a_refusal_raises_a_clear_invalid_input(self):
        self.service.answer(
            taas.FLOWS_PATH,
            {"active": False, "reason": "cross_host", "detail": "source on compute-2, service on compute-1"},
        )
        with self.assertRaises(n_exc.InvalidInput) as raised:
            self.driver().create_tap_flow_postcommit(FakeFlowContext())
        self.assertIn("cross_host", str(raised.exception))
        self.assertIn("compute-2", str(raised.exception))
        self.update_tap_flow.assert_not_called()

    def test_a_vlan_filter_is_refused_without_asking_the_service(self):
        context = FakeFlowContext()
        context.tap_flow["vlan_filter"] = "9-18"
        with self.assertRaises(n_exc.InvalidInput):
            self.driver().create_tap_flow_postcommit(context)
        self.assertEqual(self.service.requests, [])

    def test_no_free_mirror_is_error_with_the_reason_logged(self):
        self.service.answer(
            taas.FLOWS_PATH, {"active": False, "reason": "no_free_mirror", "detail": "2 of 2 in use"}
        )
        context = FakeFlowContext()
        with self.assertLogs("networking_spp_ml2.taas", "WARNING") as logs:
            self.driver().create_tap_flow_postcommit(context)
        self.assertEqual(context.tap_flow["status"], "ERROR")
        self.assertIn("no_free_mirror", "\n".join(logs.output))

    def test_service_down_on_create_is_error_not_an_exception(self):
        context = FakeFlowContext()
        self.driver(support.closed_port_url()).create_tap_flow_postcommit(context)
        self.assertEqual(context.tap_flow["status"], "ERROR")

    def test_service_down_on_delete_still_removes_the_row(self):
        context = FakeFlowContext(status="PENDING_DELETE")
        self.driver(support.closed_port_url()).delete_tap_flow_precommit(context)
        self.delete_tap_flow.assert_called_once_with(self.plugin, context._plugin_context, "flow-1")

    def test_delete_asks_for_the_unplug(self):
        self.service.answer(taas.DELETE_PATH, {"tap_flow_id": "flow-1", "result": "unplug_requested"})
        self.driver().delete_tap_flow_postcommit(FakeFlowContext(status="ERROR"))
        self.assertEqual(self.service.requests[0].body, {"tap_flow_id": "flow-1"})

    def test_tap_service_on_a_port_not_bound_by_spp_is_refused(self):
        self.service.answer(
            taas.CHECK_PATH, {"ok": False, "reason": "not_spp_port", "detail": "not bound by SPP"}
        )
        with self.assertRaises(n_exc.InvalidInput):
            self.driver().create_tap_service_postcommit(FakeServiceContext())
        self.service.answer(taas.CHECK_PATH, {"ok": True, "host": "compute-1"})
        context = FakeServiceContext()
        self.driver().create_tap_service_postcommit(context)
        self.assertEqual(context.tap_service["status"], "ACTIVE")


if __name__ == "__main__":
    unittest.main()
