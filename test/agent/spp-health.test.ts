import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { SppHealthRecord } from '../../src/etcd/values.js';
import { SppHealth } from '../../src/agent/spp-health.js';
import { agentConfigurations } from '../../src/neutron/agent-state.js';
import { SppCtlError } from '../../src/spp/client.js';

const unreachable = new SppCtlError('GET /v1/vfs/1: connect ECONNREFUSED', undefined, '');
const gone = new SppCtlError('GET /v1/vfs/2: 404 Not Found', 404, 'Not Found');
const refused = new SppCtlError('PUT /v1/vfs/1/components/cls: 400 port is used', 400, '');

function tracked() {
  const changes: SppHealthRecord[] = [];
  const health = new SppHealth(
    (record) => changes.push(record),
    () => new Date('2026-12-02T00:00:00Z'),
  );
  return { health, changes };
}

describe('SPP health of the agent', () => {
  it('spp-ctl not answering or a spp_vf it cannot reach make SPP unreachable, once each', () => {
    const { health, changes } = tracked();
    health.failed('vf:1', unreachable);
    health.failed('vf:1', unreachable);
    health.failed('vf:2', gone);
    assert.equal(health.ok, false);
    assert.equal(changes.length, 2, 'one change per new problem, not per retry');
    assert.deepEqual(health.record(), {
      state: 'unreachable',
      problem:
        'spp-ctl does not answer (GET /v1/vfs/1: connect ECONNREFUSED); spp_vf 2 is not reachable through spp-ctl (GET /v1/vfs/2: 404 Not Found)',
      since: '2026-12-02T00:00:00.000Z',
    });
  });

  it('a call SPP refuses says nothing about reachability', () => {
    const { health, changes } = tracked();
    health.failed('vf:1', refused);
    health.failed('vf:1', new Error('not an SPP answer'));
    assert.equal(health.ok, true);
    assert.deepEqual(changes, []);
  });

  it('is ok again only when every process that failed has recovered', () => {
    const { health, changes } = tracked();
    health.failed('vf:1', unreachable);
    health.failed('vf:2', gone);
    health.recovered('vf:1');
    assert.equal(health.ok, false);
    health.recovered('vf:2');
    health.recovered('vf:2');
    assert.deepEqual(health.record(), { state: 'ok' });
    assert.equal(changes.length, 4);
  });

  it("Neutron's agent configurations say whether SPP is reachable", () => {
    const record = {
      host: 'h',
      version: '1',
      started_at: 't',
      pid: 1,
      physnets: { phys1: { vhosts: [0, 1] } },
    };
    assert.equal(agentConfigurations(record, { phys1: 1 }).spp, 'ok');
    const down = { ...record, spp: { state: 'unreachable' as const, problem: 'x', since: 't' } };
    assert.equal(agentConfigurations(down, {}).spp, 'unreachable: x');
  });
});
