"""The periodic full sync: request body, answer handling, the worker loop."""

import logging
import threading
import unittest

from networking_spp_ml2 import sync
from tests import support

VLAN = {"id": "seg-2", "network_type": "vlan", "physical_network": "phys1", "segmentation_id": 300}
FLAT = {"id": "seg-1", "network_type": "flat", "physical_network": "phys2", "segmentation_id": None}
SYNCED = {
    "revision": 12,
    "dry_run": False,
    "unplug_requested": [{"port_id": "gone", "host": "compute-2", "reason": "not_in_neutron"}],
    "cleaned": [],
    "plug_requested": [],
    "skipped": [],
    "errors": [],
    "etcd_requests": 2,
}


class SyncOnceTest(unittest.TestCase):
    def setUp(self):
        self.service = support.FakeService()
        self.addCleanup(self.service.close)
        self.collected = []

    def driver(self, ports, url=None):
        def collect(driver_name):
            self.collected.append(driver_name)
            if isinstance(ports, Exception):
                raise ports
            return ports

        driver = support.SppMechanismDriver(
            conf=support.make_conf(url or self.service.url),
            collect_ports=collect,
            collect_down=lambda ports: [],
        )
        driver.initialize()
        return driver

    def test_posts_the_collected_ports(self):
        ports = [
            {"id": "p1", "host": "compute-1", "mac_address": "fa:16:3e:00:00:01", "segment": VLAN},
            {"id": "p2", "host": "compute-2", "mac_address": "fa:16:3e:00:00:02", "segment": FLAT},
        ]
        self.service.answer("/v1/ml2/sync", SYNCED)
        with self.assertLogs("networking_spp_ml2.driver", logging.INFO) as logs:
            answer = self.driver(ports).sync_once()
        self.assertEqual(self.collected, ["spp"])
        self.assertEqual(len(self.service.requests), 1)
        request = self.service.requests[0]
        self.assertEqual(request.path, "/v1/ml2/sync")
        self.assertEqual(request.headers["authorization"], "Bearer " + support.TOKEN)
        self.assertEqual(request.body, {"ports": ports})
        self.assertEqual(answer["revision"], 12)
        self.assertIn("unplug_requested=1", logs.output[-1])

    def test_an_empty_neutron_is_synced_too(self):
        # An empty list is meaningful: every SPP port in etcd is then stale.
        self.service.answer("/v1/ml2/sync", SYNCED)
        self.driver([]).sync_once()
        self.assertEqual(self.service.requests[0].body, {"ports": []})

    def test_service_failures_are_logged_not_raised(self):
        cases = [
            ("http 500", self.service.url, {"error": "internal", "detail": "etcd"}, 500),
            ("invalid json", self.service.url, b"<html>", 200),
            ("unreachable", support.closed_port_url(), None, 200),
        ]
        for name, url, answer, status in cases:
            with self.subTest(name):
                if answer is not None:
                    self.service.answer("/v1/ml2/sync", answer, status=status)
                with self.assertLogs("networking_spp_ml2.driver", logging.WARNING):
                    self.assertIsNone(self.driver([], url=url).sync_once())

    def test_database_failure_sends_nothing(self):
        self.service.answer("/v1/ml2/sync", SYNCED)
        with self.assertLogs("networking_spp_ml2.driver", logging.ERROR):
            self.assertIsNone(self.driver(RuntimeError("db gone")).sync_once())
        self.assertEqual(self.service.requests, [])


class SyncPortsTest(unittest.TestCase):
    def test_joins_bindings_with_macs(self):
        bindings = [
            {"port_id": "p1", "host": "compute-1", "segment": VLAN},
            {"port_id": "p2", "host": "compute-1", "segment": FLAT},
            # a live migration's second binding of p1
            {"port_id": "p1", "host": "compute-2", "segment": VLAN},
        ]
        macs = {"p1": "fa:16:3e:00:00:01", "p2": "fa:16:3e:00:00:02"}
        self.assertEqual(
            sync.sync_ports(bindings, macs),
            [
                {"id": "p1", "host": "compute-1", "mac_address": "fa:16:3e:00:00:01", "segment": VLAN},
                {"id": "p2", "host": "compute-1", "mac_address": "fa:16:3e:00:00:02", "segment": FLAT},
                {"id": "p1", "host": "compute-2", "mac_address": "fa:16:3e:00:00:01", "segment": VLAN},
            ],
        )

    def test_drops_deleted_ports_and_duplicates(self):
        bindings = [
            {"port_id": "p1", "host": "compute-1", "segment": VLAN},
            {"port_id": "p1", "host": "compute-1", "segment": VLAN},
            {"port_id": "deleted", "host": "compute-1", "segment": FLAT},
        ]
        ports = sync.sync_ports(bindings, {"p1": "fa:16:3e:00:00:01"})
        self.assertEqual([(p["id"], p["host"]) for p in ports], [("p1", "compute-1")])


class SummaryTest(unittest.TestCase):
    def test_counts_changes_and_names_the_first_error(self):
        text = sync.summary(
            dict(
                SYNCED,
                plug_requested=[{}, {}],
                errors=[{"port_id": "p9", "reason": "no_free_vhost"}],
            )
        )
        self.assertIn("unplug_requested=1", text)
        self.assertIn("plug_requested=2", text)
        self.assertIn("errors=1", text)
        self.assertIn("no_free_vhost", text)
        self.assertEqual(sync.summary({"errors": []}), "no changes")


class SyncWorkerTest(unittest.TestCase):
    def test_runs_at_start_and_repeatedly_until_stopped(self):
        calls = []
        third = threading.Event()

        def run_once():
            calls.append(1)
            if len(calls) == 2:
                raise RuntimeError("one failed round must not end the loop")
            if len(calls) >= 3:
                third.set()

        worker = sync.SyncWorker(run_once, interval=0.02, first_within=0)
        self.assertEqual(worker.worker_process_count, 0)
        worker.start()
        try:
            with self.assertLogs("networking_spp_ml2.sync", logging.ERROR):
                self.assertTrue(third.wait(5), "the sync did not run three times")
        finally:
            worker.stop()
            worker.wait()
        self.assertFalse(worker._thread.is_alive())

    def test_restart_runs_a_new_loop(self):
        # oslo.service's restart (SIGHUP): stop(), reset(), start() on the same object.
        # The restart comes while the old loop is still inside a round.
        rounds = []
        in_round = threading.Event()
        gate = threading.Event()
        second = threading.Event()

        def run_once():
            rounds.append(1)
            in_round.set()
            gate.wait(5)
            if len(rounds) == 2:
                second.set()

        worker = sync.SyncWorker(run_once, interval=3600, first_within=0)
        try:
            worker.start()
            self.assertTrue(in_round.wait(5))
            worker.stop()
            worker.reset()
            worker.start()
            gate.set()
            self.assertTrue(second.wait(5), "no sync after the restart")
        finally:
            worker.stop()
            worker.wait()
        self.assertEqual(len(rounds), 2)

    def test_first_sync_waits_at_most_the_interval(self):
        started = threading.Event()
        worker = sync.SyncWorker(started.set, interval=0.05, first_within=3600)
        worker.start()
        try:
            self.assertTrue(started.wait(5))
        finally:
            worker.stop()
            worker.wait()


if __name__ == "__main__":
    unittest.main()
