import logging
import warnings

# Neutron's libraries warn about deprecated APIs on import; not ours to fix.
warnings.filterwarnings("ignore", category=DeprecationWarning)
warnings.filterwarnings("ignore", module="neutron_lib")
# The driver logs through oslo.log into stdlib logging; keep test output clean
# (assertLogs still sees every record).
logging.getLogger("networking_spp_ml2").addHandler(logging.NullHandler())
logging.getLogger("networking_spp_ml2").propagate = False
