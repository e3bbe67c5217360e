"""Remembers which (port, reason) pairs were already logged, in bounded memory."""

import collections
import threading


class LogOnce:
    def __init__(self, capacity=4096):
        self._capacity = capacity
        self._seen = collections.OrderedDict()
        self._lock = threading.Lock()

    def first_time(self, *key):
        """True the first time key is seen (again after it fell out of the memory)."""
        with self._lock:
            if key in self._seen:
                self._seen.move_to_end(key)
                return False
            self._seen[key] = True
            if len(self._seen) > self._capacity:
                self._seen.popitem(last=False)
            return True

    def forget_port(self, port_id):
        with self._lock:
            for key in [k for k in self._seen if k and k[0] == port_id]:
                del self._seen[key]
