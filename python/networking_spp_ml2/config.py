"""Options of the driver, in the [spp] section of neutron-server's configuration."""

from oslo_config import cfg

GROUP = "spp"

OPTS = [
    cfg.StrOpt(
        "service_url",
        default="http://127.0.0.1:9697",
        help="Base URL of the networking-spp binding service (networking-spp server).",
    ),
    cfg.StrOpt(
        "auth_token",
        secret=True,
        help="Bearer token of the binding service ([spp_server] auth_token there). "
        "Unset: no Authorization header is sent.",
    ),
    cfg.FloatOpt(
        "request_timeout",
        default=30.0,
        min=0.1,
        help="Seconds to wait for an answer of the binding service. Must exceed the "
        "service's [spp_server] bind_timeout, because a bind waits for the agent.",
    ),
    cfg.IntOpt(
        "sync_interval",
        default=60,
        min=0,
        help="Seconds between two full syncs of Neutron's bound SPP ports to the binding "
        "service (one sync loop per neutron-server); 0 disables the sync.",
    ),
]


def register_opts(conf):
    """Registers the options; safe to call more than once."""
    conf.register_opts(OPTS, group=GROUP)


def list_opts():
    """For oslo-config-generator (entry point oslo.config.opts)."""
    return [(GROUP, OPTS)]
