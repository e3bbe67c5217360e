import type { Logger } from 'pino';
import { keys } from '../etcd/keys.js';
import type { HostState } from '../snapshot/model.js';
import type { AgentLayout } from './layout-index.js';
import { indexLayout } from './layout-index.js';

/**
 * The host's layout as the agent uses it, indexed once per value of `configuration/<host>`.
 * Its absence and its problems are logged when they change.
 */
export class LayoutTracker {
  private revision = -1;
  private layout: AgentLayout | undefined;
  private problem: string | undefined;

  constructor(private readonly logger: Logger) {}

  get current(): AgentLayout | undefined {
    return this.layout;
  }

  /** Brings the layout up to date with `host`; true when it changed. */
  refresh(host: HostState): boolean {
    const entry = host.configuration;
    const revision = entry?.modRevision ?? 0;
    if (revision === this.revision) return false;
    this.revision = revision;
    const key = keys.configuration(host.host);
    if (!entry) {
      this.layout = undefined;
      this.logger.warn({ key }, 'no layout for this host in etcd; waiting for `host build`');
      return true;
    }
    if (!entry.ok) {
      this.layout = undefined;
      if (entry.problem !== this.problem) {
        this.logger.error({ key, err: entry.problem }, 'unusable host layout; SPP left as it is');
      }
      this.problem = entry.problem;
      return true;
    }
    this.layout = indexLayout(entry.value);
    this.problem = undefined;
    for (const problem of this.layout.problems)
      this.logger.warn({ key, problem }, 'layout problem');
    this.logger.info(
      { key, vfs: this.layout.vfs.length, vhosts: this.layout.vhosts.size },
      'host layout loaded',
    );
    return true;
  }
}
