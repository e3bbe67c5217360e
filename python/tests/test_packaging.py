"""Neutron finds the driver by entry point, from the source tree or an install."""

import configparser
import importlib.metadata
import os
import tempfile
import tomllib
import unittest

import networking_spp_ml2
from networking_spp_ml2 import config
from networking_spp_ml2.driver import SppMechanismDriver

PYTHON_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GROUP = "neutron.ml2.mechanism_drivers"


def _pyproject():
    with open(os.path.join(PYTHON_DIR, "pyproject.toml"), "rb") as f:
        return tomllib.load(f)["project"]


def _dist_info_dirs():
    return [d for d in os.listdir(PYTHON_DIR) if d.endswith(".dist-info")]


class PackagingTest(unittest.TestCase):
    def test_the_spp_entry_point_loads_the_driver(self):
        found = [e for e in importlib.metadata.entry_points(group=GROUP) if e.name == "spp"]
        self.assertEqual(len(found), 1, found)
        self.assertIs(found[0].load(), SppMechanismDriver)

    def test_ml2_style_loading_by_name(self):
        # ML2's MechanismManager loads drivers this way (stevedore, by name).
        from stevedore import named

        manager = named.NamedExtensionManager(GROUP, ["spp"], invoke_on_load=True, name_order=True)
        self.assertEqual(manager.names(), ["spp"])
        self.assertIsInstance(manager["spp"].obj, SppMechanismDriver)

    def test_committed_dist_info_matches_pyproject(self):
        project = _pyproject()
        version = project["version"]
        self.assertEqual(networking_spp_ml2.__version__, version)
        self.assertEqual(_dist_info_dirs(), ["networking_spp_ml2-%s.dist-info" % version])
        dist_info = os.path.join(PYTHON_DIR, _dist_info_dirs()[0])
        with open(os.path.join(dist_info, "METADATA"), encoding="utf-8") as f:
            headers = dict(
                line.split(": ", 1) for line in f.read().splitlines() if ": " in line
            )
        self.assertEqual(headers["Name"], project["name"])
        self.assertEqual(headers["Version"], version)
        entry_points = configparser.ConfigParser(delimiters=("=",))
        entry_points.optionxform = str
        entry_points.read(os.path.join(dist_info, "entry_points.txt"))
        committed = {s: dict(entry_points[s]) for s in entry_points.sections()}
        self.assertEqual(committed, project["entry-points"])
        self.assertEqual(
            committed[GROUP], {"spp": "networking_spp_ml2.driver:SppMechanismDriver"}
        )

    def test_oslo_config_generator_finds_the_options(self):
        # oslo-config-generator --namespace networking_spp_ml2 loads this entry point.
        found = [
            e
            for e in importlib.metadata.entry_points(group="oslo.config.opts")
            if e.name == "networking_spp_ml2"
        ]
        self.assertEqual(len(found), 1, found)
        self.assertIs(found[0].load(), config.list_opts)
        from oslo_config import generator

        groups = generator._list_opts(["networking_spp_ml2"])
        names = [opt.dest for _, group_opts in groups for _, opts in group_opts for opt in opts]
        self.assertEqual(names, ["service_url", "auth_token", "request_timeout", "sync_interval"])

    def test_options_and_defaults(self):
        opts = {opt.dest: opt for group, group_opts in config.list_opts() for opt in group_opts}
        self.assertEqual([g for g, _ in config.list_opts()], ["spp"])
        self.assertEqual(
            {name: opt.default for name, opt in opts.items()},
            {
                "service_url": "http://127.0.0.1:9697",
                "auth_token": None,
                "request_timeout": 30.0,
                "sync_interval": 60,
            },
        )
        self.assertTrue(opts["auth_token"].secret)

    def test_options_read_from_an_ml2_ini_file(self):
        from oslo_config import cfg

        with tempfile.NamedTemporaryFile("w", suffix=".ini", delete=False) as f:
            f.write(
                "[ml2]\nmechanism_drivers = openvswitch,spp\n\n"
                "[spp]\nservice_url = http://10.0.0.5:9697\nauth_token = s3cret\n"
                "request_timeout = 45\nsync_interval = 0\netcd_host = 10.0.0.9\n"
            )
        self.addCleanup(os.unlink, f.name)
        conf = cfg.ConfigOpts()
        config.register_opts(conf)
        conf(args=["--config-file", f.name], default_config_files=[])
        self.assertEqual(conf.spp.service_url, "http://10.0.0.5:9697")
        self.assertEqual(conf.spp.auth_token, "s3cret")
        self.assertEqual(conf.spp.request_timeout, 45.0)
        self.assertEqual(conf.spp.sync_interval, 0)


if __name__ == "__main__":
    unittest.main()
