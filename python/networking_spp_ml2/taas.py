"""Tap-as-a-service driver for neutron_taas: forwards tap flows to the binding service.

Enable it in neutron.conf with ``service_plugins = taas`` and ``[service_providers]
service_provider = TAAS:SPP:networking_spp_ml2.taas.SppTaasDriver:default``. It decides
nothing: the binding service (``/v1/taas/*``, docs/server-api.md) checks the ports,
takes mirror slots in etcd and waits for the SPP agent; this driver applies the answer
to the tap flow's status (ACTIVE, or ERROR with the reason in the log), refuses invalid
requests with a clear error (ports on different hosts, ports not bound by SPP), and
never breaks the TaaS plugin when the service is down (ERROR now, the full sync later).
"""

from neutron_lib import constants
from neutron_lib import exceptions as n_exc
from oslo_config import cfg
from oslo_log import log as logging

from networking_spp_ml2 import client as service_client
from networking_spp_ml2 import config

try:  # neutron_taas is only present where the TaaS plugin runs
    from neutron_taas.db import taas_db
    from neutron_taas.services.taas.service_drivers import TaasBaseDriver
except ImportError:  # pragma: no cover - the module is unusable without neutron_taas
    taas_db = None
    TaasBaseDriver = object

LOG = logging.getLogger(__name__)

FLOWS_PATH = "/v1/taas/tap_flows"
DELETE_PATH = "/v1/taas/tap_flows/delete"
CHECK_PATH = "/v1/taas/tap_services/check"
SYNC_PATH = "/v1/taas/sync"

# The service refused the request itself: the tap flow is not created (400 to the user).
REFUSALS = frozenset(["cross_host", "not_spp_port", "same_port", "conflict"])


class SppTaasDriver(TaasBaseDriver):
    """neutron_taas service driver for SPP's spp_mirror (through the binding service)."""

    def __init__(self, service_plugin, conf=None, client=None):
        super().__init__(service_plugin)
        self._conf = conf or cfg.CONF
        config.register_opts(self._conf)
        self._client = client or service_client.ServiceClient.from_conf(self._conf.spp)
        LOG.info("SPP TaaS driver: binding service %s", self._conf.spp.service_url)

    @property
    def service_type(self):
        return "TAAS"

    # -- tap services ------------------------------------------------------------

    def create_tap_service_precommit(self, context):
        pass

    def create_tap_service_postcommit(self, context):
        ts = context.tap_service
        answer, error = _ask(self._client.post, CHECK_PATH, {"port_id": ts["port_id"]})
        if error is not None:
            LOG.warning(
                "SPP TaaS: cannot check tap service %s (%s: %s); marked ERROR",
                ts["id"], error.reason, error.detail,
            )
            self._set_service_status(context, constants.ERROR)
            return
        if not answer.get("ok"):
            raise n_exc.InvalidInput(
                error_message="tap service port %s: %s" % (ts["port_id"], answer.get("detail"))
            )
        self._set_service_status(context, constants.ACTIVE)

    def delete_tap_service_precommit(self, context):
        # An ACTIVE tap service is left PENDING_DELETE by the plugin: nothing is wired
        # for the service alone (its flows were deleted first), so the row goes now.
        taas_db.Taas_db_Mixin.delete_tap_service(
            self.service_plugin, context._plugin_context, context.tap_service["id"]
        )

    def delete_tap_service_postcommit(self, context):
        pass

    # -- tap flows ---------------------------------------------------------------

    def create_tap_flow_precommit(self, context):
        pass

    def create_tap_flow_postcommit(self, context):
        tf = context.tap_flow
        if tf.get("vlan_filter"):
            raise n_exc.InvalidInput(
                error_message="tap flow refused by SPP: spp_mirror copies every frame; "
                "a vlan_filter (%s) is not supported" % tf["vlan_filter"]
            )
        ts = self.service_plugin.get_tap_service(context._plugin_context, tf["tap_service_id"])
        body = {
            "tap_flow": {"id": tf["id"], "source_port": tf["source_port"], "direction": tf["direction"]},
            "tap_service": {"port_id": ts["port_id"]},
        }
        answer, error = _ask(self._client.post, FLOWS_PATH, body)
        if error is not None:
            LOG.warning(
                "SPP TaaS: tap flow %s: the binding service did not answer (%s: %s); marked "
                "ERROR, the next full sync removes whatever it left",
                tf["id"], error.reason, error.detail,
            )
            self._set_flow_status(context, constants.ERROR)
            return
        if answer.get("active") is True:
            LOG.info(
                "SPP TaaS: tap flow %s ACTIVE on host %s (mirror_in %s, mirror_out %s)",
                tf["id"], answer.get("host"), answer.get("mirror_in"), answer.get("mirror_out"),
            )
            self._set_flow_status(context, constants.ACTIVE)
            return
        reason = answer.get("reason")
        if reason in REFUSALS:
            raise n_exc.InvalidInput(
                error_message="tap flow refused by SPP (%s): %s" % (reason, answer.get("detail"))
            )
        LOG.warning("SPP TaaS: tap flow %s ERROR: %s: %s", tf["id"], reason, answer.get("detail"))
        self._set_flow_status(context, constants.ERROR)

    def delete_tap_flow_precommit(self, context):
        # An ACTIVE flow is left PENDING_DELETE by the plugin: ask for the unplug, then
        # remove the row (the agent finishes in etcd on its own).
        self._delete_flow(context.tap_flow["id"])
        taas_db.Taas_db_Mixin.delete_tap_flow(
            self.service_plugin, context._plugin_context, context.tap_flow["id"]
        )

    def delete_tap_flow_postcommit(self, context):
        # Flows that were not ACTIVE (ERROR, DOWN) may still hold leftovers in etcd.
        self._delete_flow(context.tap_flow["id"])

    def _delete_flow(self, flow_id):
        answer, error = _ask(self._client.post, DELETE_PATH, {"tap_flow_id": flow_id})
        if error is not None:
            LOG.warning(
                "SPP TaaS: delete of tap flow %s not forwarded (%s: %s); the next full sync "
                "repairs it", flow_id, error.reason, error.detail,
            )
            return
        LOG.info("SPP TaaS: tap flow %s delete: %s", flow_id, answer.get("result"))

    # -- status ------------------------------------------------------------------

    def _set_flow_status(self, context, status):
        tf = context.tap_flow
        taas_db.Taas_db_Mixin.update_tap_flow(
            self.service_plugin, context._plugin_context, tf["id"], {"tap_flow": {"status": status}}
        )
        tf["status"] = status

    def _set_service_status(self, context, status):
        ts = context.tap_service
        taas_db.Taas_db_Mixin.update_tap_service(
            self.service_plugin,
            context._plugin_context,
            ts["id"],
            {"tap_service": {"status": status}},
        )
        ts["status"] = status


def sync_tap_flows(client):
    """One full sync of tap flows (called from the ML2 driver's sync round).

    Neutron's tap flows go to the service, which removes what etcd has beyond them;
    ACTIVE flows that no host carries are marked ERROR. Nothing when TaaS is not loaded.
    """
    from neutron_lib import context as n_context
    from neutron_lib.plugins import directory

    plugin = directory.get_plugin("taas") or directory.get_plugin("TAAS")
    if plugin is None or taas_db is None:
        return None
    ctx = n_context.get_admin_context()
    flows = plugin.get_tap_flows(ctx, fields=["id", "status"])
    answer, error = _ask(client.post, SYNC_PATH, {"tap_flows": [{"id": f["id"]} for f in flows]})
    if error is not None:
        LOG.warning("SPP TaaS sync of %d tap flows failed: %s: %s", len(flows), error.reason, error.detail)
        return None
    active = {f["id"] for f in flows if f.get("status") == constants.ACTIVE}
    for flow_id in answer.get("missing") or []:
        if flow_id in active:
            LOG.warning("SPP TaaS sync: tap flow %s is ACTIVE but no host carries it; ERROR", flow_id)
            taas_db.Taas_db_Mixin.update_tap_flow(
                plugin, ctx, flow_id, {"tap_flow": {"status": constants.ERROR}}
            )
    LOG.info(
        "SPP TaaS sync of %d tap flows: removed %d, missing %d",
        len(flows), len(answer.get("removed") or []), len(answer.get("missing") or []),
    )
    return answer


def _ask(call, *args):
    try:
        return call(*args), None
    except service_client.ServiceError as error:
        return None, error
