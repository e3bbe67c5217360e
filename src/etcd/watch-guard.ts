import { createRequire } from 'node:module';

interface WatchResponse {
  watch_id: string;
  canceled?: boolean;
}

interface WatchManagerInternals {
  watchers: Array<{ id: string | null }>;
  handleResponse(response: WatchResponse): void;
  handleCreatedResponse(response: WatchResponse): void;
}

let installed = false;

/**
 * etcd3 1.1.2 throws from its watch stream's 'data' handler, an uncaught exception that
 * kills the process, when etcd answers for a watcher the client already dropped: it happens
 * when watchers are cancelled while the stream reconnects from a compacted revision. Such an
 * answer concerns no live watcher, so it is dropped; every live watcher is still served.
 */
export function guardEtcdWatchResponses(): void {
  if (installed) return;
  installed = true;
  const require = createRequire(import.meta.url);
  const { WatchManager } = require('etcd3/lib/watch') as {
    WatchManager: { prototype: WatchManagerInternals };
  };
  const prototype = WatchManager.prototype;
  const handleResponse = prototype.handleResponse;
  prototype.handleResponse = function (this: WatchManagerInternals, response) {
    if (!this.watchers.some((watcher) => watcher.id === response.watch_id)) return;
    handleResponse.call(this, response);
  };
  const handleCreatedResponse = prototype.handleCreatedResponse;
  prototype.handleCreatedResponse = function (this: WatchManagerInternals, response) {
    if (response.canceled && !this.watchers.some((watcher) => watcher.id === null)) return;
    handleCreatedResponse.call(this, response);
  };
}
