"""The oracle of the INI tests: reads config files with the real oslo.config.

Input (JSON on stdin): a list of requests {"options": [{"group", "name", "kind", "min",
"max", "choices", "default"}...], "files": [paths], "env": {name: value}, "driver": bool}.
The options are registered with the same types, limits and defaults as the TypeScript
registry; with "driver", the ML2 driver's own options (python/networking_spp_ml2/config.py)
are registered too, as neutron-server does. "env" replaces every OS_* variable.
Output (JSON on stdout): one result per request, {"values": {"group.name": {"value": v} |
{"float": "nan"|"inf"|"-inf"} | {"error": text}}} or {"parse_error": text}.
"""

import json
import math
import os
import sys

from oslo_config import cfg

KINDS = {
    "string": lambda o: cfg.StrOpt(o["name"], default=o.get("default"), choices=o.get("choices")),
    "integer": lambda o: cfg.IntOpt(
        o["name"], default=o.get("default"), min=o.get("min"), max=o.get("max")
    ),
    "float": lambda o: cfg.FloatOpt(
        o["name"], default=o.get("default"), min=o.get("min"), max=o.get("max")
    ),
    "boolean": lambda o: cfg.BoolOpt(o["name"], default=o.get("default")),
}


def group_of(conf, group):
    return conf if group == "DEFAULT" else conf[group]


def encode(value):
    if isinstance(value, float) and not math.isfinite(value):
        return {"float": repr(value)}
    return {"value": value}


def set_environment(env):
    for name in [n for n in os.environ if n.startswith("OS_")]:
        del os.environ[name]
    os.environ.update(env)


def answer(request):
    set_environment(request.get("env", {}))
    conf = cfg.ConfigOpts()
    options = [(o["group"], o["name"]) for o in request["options"]]
    for o in request["options"]:
        group = None if o["group"] == "DEFAULT" else o["group"]
        conf.register_opt(KINDS[o["kind"]](o), group=group)
    if request.get("driver"):
        from networking_spp_ml2 import config as driver_config

        driver_config.register_opts(conf)
        options += [(driver_config.GROUP, opt.dest) for opt in driver_config.OPTS]
    args = []
    for path in request["files"]:
        args += ["--config-file", path]
    try:
        conf(args=args, project="networking-spp-oracle", default_config_files=[])
    except Exception as error:  # cfg.Error, or UnicodeDecodeError for a file that is not UTF-8
        return {"parse_error": "%s: %s" % (type(error).__name__, error)}
    values = {}
    for group, name in options:
        key = "%s.%s" % (group, name)
        try:
            values[key] = encode(getattr(group_of(conf, group), name))
        except Exception as error:  # oslo raises several unrelated types here
            values[key] = {"error": "%s: %s" % (type(error).__name__, error)}
    return {"values": values}


if __name__ == "__main__":
    print(json.dumps([answer(request) for request in json.load(sys.stdin)]))
