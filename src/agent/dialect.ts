import type { Logger } from 'pino';
import type { ProcessStatus } from '../spp/status.js';
import type { Dialect } from './layout-index.js';

/**
 * 19.11 names the classifier `classifier` and reports `master-lcore`; 18.08 uses
 * `classifier_mac` and no `master-lcore` (SPP-SPEC §8). A running classifier decides.
 */
export function detectDialect(status: ProcessStatus): Dialect {
  const types = new Set(status.components.map((component) => component.type));
  if (types.has('classifier_mac')) return '18.08';
  if (types.has('classifier')) return '19.11';
  return status['master-lcore'] === undefined ? '18.08' : '19.11';
}

/** The SPP dialect: configured, or detected from the first status answer. */
export class DialectState {
  constructor(
    private dialect: Dialect | undefined,
    private readonly logger: Logger,
  ) {}

  get value(): Dialect | undefined {
    return this.dialect;
  }

  observe(status: ProcessStatus): void {
    if (this.dialect) return;
    this.dialect = detectDialect(status);
    this.logger.info({ dialect: this.dialect }, 'SPP dialect detected');
  }
}
