import type { IniOptions } from '../config/ini.js';
import type { AgentHandle, AgentSidecar } from './agent.js';
import { agentOptionsFromIni } from './options.js';

/**
 * The work that runs beside the agent, chosen from its config files: the heartbeat to
 * Neutron over RabbitMQ when `[DEFAULT] transport_url` is set and `[AGENT] report_interval`
 * is not 0. A malformed transport_url fails here, at start-up.
 */
export async function agentSidecars(
  ini: IniOptions,
): Promise<(agent: AgentHandle) => AgentSidecar[]> {
  const options = agentOptionsFromIni(ini);
  const transportUrl = options.transportUrl;
  if (transportUrl === undefined || options.reportIntervalS === 0) return () => [];
  // Loaded only when wanted: amqplib is not needed by agents that do not report.
  const [{ StateReporter }, { agentConfigurations }, { parseTransportUrl, redact }] =
    await Promise.all([
      import('../neutron/state-reporter.js'),
      import('../neutron/agent-state.js'),
      import('../neutron/transport-url.js'),
    ]);
  parseTransportUrl(transportUrl);
  return (agent) => {
    agent.logger.info(
      { transport_url: redact(transportUrl), report_interval_s: options.reportIntervalS },
      'state reports to neutron enabled',
    );
    return [
      new StateReporter({
        transportUrl,
        host: agent.options.host,
        reportIntervalS: agent.options.reportIntervalS,
        logger: agent.logger,
        state: () => agentConfigurations(agent.record(), agent.freeVhosts()),
        // Neutron should not see alive an agent that the binding service sees dead.
        healthy: () => agent.live(),
      }),
    ];
  };
}
