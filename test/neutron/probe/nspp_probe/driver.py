"""A test-only ML2 mechanism driver that measures how Neutron sets a bound port's status.

It binds every flat/vlan segment as vhostuser, without any SPP work. The mode comes from
the host name's first word (binding:host_id "<mode>-..."):
  status  - set_binding(..., status=ACTIVE), as the SPP driver does (option a)
  plain   - set_binding without status (what option b's bind would do)
  block   - plain, plus an L2 provisioning block inserted in create/update_port_precommit
            (as neutron's agent-based drivers do), to be released by update_device_up
Hosts named otherwise are not bound.
"""

from neutron_lib import constants
from neutron_lib.api.definitions import portbindings
from neutron_lib.callbacks import resources
from neutron_lib.plugins.ml2 import api
from oslo_log import log as logging

from neutron.db import provisioning_blocks

LOG = logging.getLogger(__name__)
MODES = ("status", "plain", "block")


def _mode(host):
    mode = (host or "").split("-")[0]
    return mode if mode in MODES else None


class ProbeDriver(api.MechanismDriver):
    def initialize(self):
        LOG.info("probe driver loaded")

    @property
    def connectivity(self):
        return portbindings.CONNECTIVITY_L2

    def _block(self, context):
        if _mode(context.host) != "block":
            return
        if context.current["status"] == constants.PORT_STATUS_ACTIVE:
            return
        provisioning_blocks.add_provisioning_component(
            context._plugin_context, context.current["id"], resources.PORT,
            provisioning_blocks.L2_AGENT_ENTITY)

    def create_port_precommit(self, context):
        self._block(context)

    def update_port_precommit(self, context):
        if context.host != context.original_host:
            self._block(context)

    def bind_port(self, context):
        mode = _mode(context.host)
        if mode is None:
            return
        for segment in context.segments_to_bind:
            if segment[api.NETWORK_TYPE] not in ("flat", "vlan"):
                continue
            details = {
                portbindings.CAP_PORT_FILTER: False,
                portbindings.VHOST_USER_MODE: portbindings.VHOST_USER_MODE_SERVER,
                portbindings.VHOST_USER_SOCKET: "/tmp/sock0",
            }
            if mode == "status":
                context.set_binding(segment[api.ID], portbindings.VIF_TYPE_VHOST_USER,
                                    details, status=constants.PORT_STATUS_ACTIVE)
            else:
                context.set_binding(segment[api.ID], portbindings.VIF_TYPE_VHOST_USER,
                                    details)
            return
