"""Test oracle: the configuration value the original's spp-config-build writes.

Reads a JSON list of {"yaml", "mappings", "mirror"} on stdin and prints a JSON list of
{"value": <the json.dumps text>} or {"error": <why Python failed>}. It follows the
original's steps for a custom layout (SYSTEM.md section 3): the YAML read with PyYAML,
each vf entry built as physical_network, pci_address, num_vhost, core_mask, then the
file's components as given; the file's mirror list when a mirror spec is given and the
list is not empty, else mirrors generated from the spec.
"""
import json
import sys

import yaml


def worker_cores(mask):
    value = int(mask, 16)
    return [bit for bit in range(32) if value >> bit & 1][1:]


def build(case):
    document = yaml.load(case["yaml"], Loader=yaml.FullLoader)
    entries = []
    vhosts = 0
    for index, mapping in enumerate(case["mappings"].split(",")):
        pci, physnet, count, mask = mapping.split("#")
        entries.append({
            "physical_network": physnet,
            "pci_address": pci,
            "num_vhost": int(count),
            "core_mask": mask,
            "components": document["vf"][index]["components"],
        })
        vhosts += int(count)
    config = {"vf": entries}
    if case.get("mirror"):
        given = document["mirror"]
        if given:
            config["mirror"] = given
        else:
            count, mask = case["mirror"].split("#")
            cores = worker_cores(mask)
            config["mirror"] = [
                {"core": cores[i], "ports": ["ring:%d" % (2 * vhosts + 2 * i),
                                             "ring:%d" % (2 * vhosts + 2 * i + 1)]}
                for i in range(int(count))
            ]
    return json.dumps(config)


results = []
for case in json.load(sys.stdin):
    try:
        results.append({"value": build(case)})
    except Exception as error:  # the original would stop with this error
        results.append({"error": "%s: %s" % (type(error).__name__, error)})
print(json.dumps(results))
