"""Neutron ML2 mechanism driver 'spp' of networking-spp (a client of the binding service)."""

__version__ = "0.1.0"
