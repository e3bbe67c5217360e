"""The HTTP client on its own: URL joining, proxies, error classification."""

import os
import unittest
from unittest import mock

from networking_spp_ml2 import client
from tests import support


class ClientTest(unittest.TestCase):
    def setUp(self):
        self.service = support.FakeService()
        self.addCleanup(self.service.close)
        self.service.answer("/v1/ml2/unbind", {"result": "not_found"})

    def test_trailing_slash_in_service_url(self):
        answer = client.ServiceClient(self.service.url + "/", "t").unbind("p1", "h1")
        self.assertEqual(answer, {"result": "not_found"})
        self.assertEqual(self.service.requests[0].path, "/v1/ml2/unbind")

    def test_proxy_environment_is_ignored(self):
        dead_proxy = support.closed_port_url()
        env = {"http_proxy": dead_proxy, "HTTP_PROXY": dead_proxy, "no_proxy": "", "NO_PROXY": ""}
        with mock.patch.dict(os.environ, env):
            answer = client.ServiceClient(self.service.url, "t").unbind("p1", "h1")
        self.assertEqual(answer, {"result": "not_found"})

    def test_error_classes(self):
        self.service.answer("/v1/ml2/sync", b"", status=503)
        self.service.answer("/v1/ml2/bind", {}, hold=True)
        cases = [
            (client.ServiceClient(self.service.url).sync, ([],), client.HTTP_ERROR, "503"),
            (
                client.ServiceClient(self.service.url, timeout=0.2).bind,
                ({},),
                client.TIMEOUT,
                "0.2",
            ),
            (
                client.ServiceClient(support.closed_port_url()).bind,
                ({},),
                client.UNREACHABLE,
                "127.0.0.1",
            ),
        ]
        for call, args, reason, text in cases:
            with self.subTest(reason):
                with self.assertRaises(client.ServiceError) as raised:
                    call(*args)
                self.assertEqual(raised.exception.reason, reason)
                self.assertIn(text, raised.exception.detail)


if __name__ == "__main__":
    unittest.main()
