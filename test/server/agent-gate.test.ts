import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { keys } from '../../src/etcd/keys.js';
import type { EtcdStore } from '../../src/etcd/store.js';
import { EtcdServer } from '../../src/lab/etcd-server.js';
import type {
  AgentEvidence,
  EtcdAgentRequirement,
  GateDecision,
} from '../../src/server/agent-gate.js';
import {
  agentKindOf,
  judgeAgent,
  parseEtcdAgentRequirement,
  readAgentEvidence,
} from '../../src/server/agent-gate.js';
import { computeHost } from '../agent/host-fixture.js';
import type { ComputeHostFixture } from '../agent/host-fixture.js';
import { waitFor } from '../harness/wait.js';

const ALIVE = [{ alive: true }];
const DEAD = [{ alive: false }];
const ours = (livenessKey: boolean, neutronAgents?: Array<{ alive: boolean }>): AgentEvidence => ({
  host: 'h1',
  livenessKey,
  kindMarker: true,
  ...(neutronAgents ? { neutronAgents } : {}),
});
const original = (neutronAgents?: Array<{ alive: boolean }>): AgentEvidence => ({
  host: 'h2',
  livenessKey: false,
  kindMarker: false,
  ...(neutronAgents ? { neutronAgents } : {}),
});

describe('per-host agent gate (unit)', () => {
  it('parses require_etcd_agent: booleans as oslo spells them, and auto', () => {
    assert.equal(parseEtcdAgentRequirement('auto'), 'auto');
    assert.equal(parseEtcdAgentRequirement('AUTO'), 'auto');
    assert.equal(parseEtcdAgentRequirement('yes'), 'true');
    assert.equal(parseEtcdAgentRequirement('0'), 'false');
    assert.throws(() => parseEtcdAgentRequirement('sometimes'), /must be true, false or auto/);
  });

  it('a host runs our agent if it has our liveness key or our durable marker', () => {
    assert.equal(agentKindOf({ livenessKey: true, kindMarker: false }), 'networking-spp');
    assert.equal(agentKindOf({ livenessKey: false, kindMarker: true }), 'networking-spp');
    assert.equal(agentKindOf({ livenessKey: false, kindMarker: false }), 'original');
  });

  it('auto: our host is judged by etcd, even when Neutron still calls its dead agent alive', () => {
    const decision = judgeAgent('auto', ours(false, ALIVE));
    assert.equal(decision.alive, false);
    assert.equal(decision.judgedBy, 'etcd');
    assert.match(
      decision.alive ? '' : decision.reason,
      /^no SPP agent is alive on host h1 \(it runs our agent\): its liveness key \/spp\/openstack\/agent\/h1 is absent/,
    );
    assert.deepEqual(judgeAgent('auto', ours(true, ALIVE)), {
      alive: true,
      judgedBy: 'etcd',
      guards: [{ key: '/spp/openstack/agent/h1', present: true }],
    });
  });

  it("auto: a host still running the original agent is judged by Neutron's view", () => {
    assert.deepEqual(judgeAgent('auto', original(ALIVE)), {
      alive: true,
      judgedBy: 'neutron',
      guards: [],
    });
    assert.deepEqual(judgeAgent('auto', original(DEAD)), {
      alive: false,
      judgedBy: 'neutron',
      reason: 'Neutron reports the SPP agent on host h2 as down',
    });
    assert.deepEqual(judgeAgent('auto', original([])), {
      alive: false,
      judgedBy: 'neutron',
      reason: 'Neutron knows no SPP agent on host h2',
    });
    const blind = judgeAgent('auto', original());
    assert.equal(blind.alive, false);
    assert.match(blind.alive ? '' : blind.reason, /carries no Neutron view/);
  });

  it('true and false keep their meaning for every host', () => {
    assert.equal(judgeAgent('true', original(ALIVE)).alive, false);
    assert.equal(judgeAgent('true', ours(true, DEAD)).alive, false);
    assert.deepEqual(judgeAgent('false', ours(false)), {
      alive: true,
      judgedBy: 'nothing',
      guards: [],
    });
    assert.equal(judgeAgent('false', ours(false, ALIVE)).alive, true);
  });
});

const evidence: fc.Arbitrary<AgentEvidence> = fc.record(
  {
    host: fc.constantFrom('h1', 'h2'),
    livenessKey: fc.boolean(),
    kindMarker: fc.boolean(),
    neutronAgents: fc.array(fc.record({ alive: fc.boolean() }), { maxLength: 3 }),
  },
  { requiredKeys: ['host', 'livenessKey', 'kindMarker'] },
);
const requirement = fc.constantFrom<EtcdAgentRequirement>('true', 'false', 'auto');
/** A decision without its wording. */
const verdict = (decision: GateDecision) =>
  decision.alive ? decision : { alive: false, judgedBy: decision.judgedBy };
const neutronSaysDown = (e: AgentEvidence) =>
  e.neutronAgents !== undefined && !e.neutronAgents.some((agent) => agent.alive);

describe('per-host agent gate (properties)', () => {
  it('auto is "true" for hosts of ours and "false" (with a Neutron view) for the others', () => {
    fc.assert(
      fc.property(evidence, (e) => {
        const auto = verdict(judgeAgent('auto', e));
        if (agentKindOf(e) === 'networking-spp') {
          assert.deepEqual(auto, verdict(judgeAgent('true', e)));
        } else if (e.neutronAgents) {
          assert.deepEqual(auto, verdict(judgeAgent('false', e)));
        } else {
          assert.equal(auto.alive, false);
        }
      }),
    );
  });

  it("alive only if Neutron's view (when given) shows an alive agent, and etcd's when judged by it", () => {
    fc.assert(
      fc.property(requirement, evidence, (mode, e) => {
        const decision = judgeAgent(mode, e);
        if (neutronSaysDown(e)) assert.equal(decision.alive, false);
        if (decision.alive && decision.judgedBy === 'etcd') {
          assert.equal(e.livenessKey, true);
          assert.deepEqual(decision.guards, [{ key: keys.agent(e.host), present: true }]);
        }
        if (decision.alive && decision.judgedBy !== 'etcd') assert.deepEqual(decision.guards, []);
        if (!decision.alive) assert.match(decision.reason, new RegExp(e.host));
      }),
    );
  });

  it('a dead agent of ours is never trusted to Neutron under auto', () => {
    fc.assert(
      fc.property(evidence, (e) => {
        const dead = { ...e, livenessKey: false, kindMarker: true };
        assert.equal(judgeAgent('auto', dead).alive, false);
      }),
    );
  });
});

describe('per-host agent gate with one host of each kind (real etcd, real agent)', () => {
  let etcd: EtcdServer;
  let store: EtcdStore;
  let node: ComputeHostFixture;

  before(async () => {
    etcd = await EtcdServer.launch();
    store = etcd.connectStore();
    node = await computeHost({ store, etcd: etcd.endpoint, host: 'ours-1' });
    await node.startAgent({ spp: { agent_liveness_ttl: '2' } });
  });

  it('our agent writes its durable kind marker with its first liveness record', async () => {
    const kv = await waitFor('agent_kind/ours-1', () => store.get(keys.agentKind('ours-1')));
    assert.equal((JSON.parse(kv.value) as { agent: string }).agent, 'networking-spp');
  });

  after(async () => {
    await node?.stop();
    store?.close();
    await etcd?.dispose();
  });

  it('our host by etcd, the original host by Neutron; a stopped agent of ours is refused', async () => {
    const oursAlive = judgeAgent('auto', await readAgentEvidence(store, 'ours-1', ALIVE));
    assert.equal(oursAlive.alive, true);
    assert.equal(oursAlive.judgedBy, 'etcd');
    const originalHost = await readAgentEvidence(store, 'orig-1', ALIVE);
    assert.deepEqual(originalHost, {
      host: 'orig-1',
      livenessKey: false,
      kindMarker: false,
      neutronAgents: ALIVE,
    });
    assert.deepEqual(judgeAgent('auto', originalHost), {
      alive: true,
      judgedBy: 'neutron',
      guards: [],
    });

    await node.agent?.stop();
    await waitFor(
      'the liveness key of ours-1 to lapse',
      async () => (await store.get(keys.agent('ours-1'))) === undefined,
      15_000,
    );
    // Neutron would still list the agent as alive for up to agent_down_time.
    const oursDead = judgeAgent('auto', await readAgentEvidence(store, 'ours-1', ALIVE));
    assert.equal(oursDead.alive, false);
    assert.equal(oursDead.judgedBy, 'etcd');
    assert.equal(judgeAgent('auto', await readAgentEvidence(store, 'orig-1', DEAD)).alive, false);
  });
});
