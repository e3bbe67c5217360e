/**
 * The option names, sections and defaults are the README's configuration reference (the
 * contract with operators): the expected values below are copied from the README, not
 * from the code.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { AGENT_REGISTRY, agentOptionsFromIni } from '../../src/agent/options.js';
import { IniOptions } from '../../src/config/ini.js';
import { defaultOf } from '../../src/config/option.js';
import { SERVER_REGISTRY } from '../../src/server/options.js';

const README = readFileSync(fileURLToPath(new URL('../../../README.md', import.meta.url)), 'utf8');
const doc = (name: string) =>
  readFileSync(fileURLToPath(new URL(`../../../docs/${name}`, import.meta.url)), 'utf8');
const SERVER_API = doc('server-api.md');
const PLACEMENT = doc('placement.md');

const ETCD = {
  'spp.etcd_host': '127.0.0.1',
  'spp.etcd_port': 2379,
  'spp.etcd_endpoints': undefined,
  'spp.etcd_timeout': 5,
  'spp.etcd_ca_cert': undefined,
  'spp.etcd_cert': undefined,
  'spp.etcd_key': undefined,
  'spp.etcd_username': undefined,
  'spp.etcd_password': undefined,
};

const AGENT = {
  ...ETCD,
  'DEFAULT.host': 'the hostname',
  'spp.api_ip_addr': '127.0.0.1',
  'spp.api_port': 7777,
  'spp.spp_ctl_timeout': 5,
  'spp.spp_dialect': 'auto',
  'spp.reconcile_interval': 5,
  'spp.retry_max_interval': 10,
  'spp.agent_liveness_ttl': 15,
  'spp.agent_metrics_port': undefined,
  'spp.agent_metrics_address': '127.0.0.1',
  'DEFAULT.transport_url': undefined,
  'AGENT.report_interval': 30,
};

const SERVER = {
  ...ETCD,
  'spp_server.listen_address': '127.0.0.1',
  'spp_server.listen_port': 9697,
  'spp_server.auth_token': undefined,
  'spp_server.auth_disabled': false,
  'spp_server.bind_timeout': 20,
  'spp_server.tap_timeout': 30,
  'spp_server.sync_grace': 60,
  'spp_server.require_etcd_agent': 'true',
  'spp_server.vhost_socket_dir': '/tmp',
  'spp_server.shutdown_grace': 'bind_timeout + 5',
  // docs/placement.md#options
  'spp_placement.enabled': false,
  'spp_placement.sync_interval': 60,
  'spp_placement.leader_ttl': 15,
  'spp_placement.retry_max_interval': 60,
  'spp_placement.hypervisor_names': undefined,
  'placement.auth_type': undefined,
  'placement.auth_url': undefined,
  'placement.username': undefined,
  'placement.user_id': undefined,
  'placement.password': undefined,
  'placement.user_domain_name': undefined,
  'placement.user_domain_id': undefined,
  'placement.project_name': undefined,
  'placement.project_id': undefined,
  'placement.project_domain_name': undefined,
  'placement.project_domain_id': undefined,
  'placement.default_domain_name': undefined,
  'placement.default_domain_id': undefined,
  'placement.region_name': undefined,
  'placement.valid_interfaces': undefined,
  'placement.endpoint_type': 'public',
  'placement.endpoint_override': undefined,
  'placement.auth_section': undefined,
  'placement.timeout': 5,
  'placement.cafile': undefined,
  'placement.certfile': undefined,
  'placement.keyfile': undefined,
  'placement.insecure': false,
};

function defaults(registry: typeof AGENT_REGISTRY): Record<string, unknown> {
  return Object.fromEntries(
    registry.map((option) => [
      `${option.group}.${option.name}`,
      option.defaultText === "this machine's host name"
        ? 'the hostname'
        : (option.defaultText ?? defaultOf(option)),
    ]),
  );
}

describe('option registry = the README configuration reference', () => {
  it('the agent reads exactly the documented options, with the documented defaults', () => {
    assert.deepEqual(defaults(AGENT_REGISTRY), AGENT);
  });

  it('the service reads exactly the documented options, with the documented defaults', () => {
    assert.deepEqual(defaults(SERVER_REGISTRY), SERVER);
  });

  it('every option is named in the README or the service API doc', () => {
    for (const option of [...AGENT_REGISTRY, ...SERVER_REGISTRY]) {
      assert.ok(
        [README, SERVER_API, PLACEMENT].some((text) => text.includes(`\`${option.name}\``)),
        option.name,
      );
    }
  });

  it('an agent without files gets the defaults', () => {
    const options = agentOptionsFromIni(new IniOptions());
    assert.equal(options.sppCtlUrl, 'http://127.0.0.1:7777');
    assert.deepEqual(options.etcd.endpoints, ['127.0.0.1:2379']);
    assert.equal(options.reportIntervalS, 30);
    assert.equal(options.reconcileIntervalMs, 5000);
    assert.equal(options.metricsPort, undefined);
  });
});
