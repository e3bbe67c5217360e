import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { pino } from 'pino';
import { Completions } from '../../src/agent/completions.js';
import type { DesiredState } from '../../src/agent/desired.js';
import { DialectState } from '../../src/agent/dialect.js';
import { indexLayout } from '../../src/agent/layout-index.js';
import { noAgentMetrics } from '../../src/agent/metrics.js';
import { planBuild, planVhost, readActualVhost } from '../../src/agent/plan.js';
import { SppProblems, reconcileVf } from '../../src/agent/reconcile-vf.js';
import { SppView } from '../../src/agent/spp-view.js';
import type { EtcdStore } from '../../src/etcd/store.js';
import { SppCtlClient } from '../../src/spp/client.js';
import { specExampleLayout } from './plan-layouts.js';
import { CapturingSppCtl, ModelSpp } from './spp-model.js';

const quiet = pino({ level: 'silent' });
const MAC = 'fa:16:3e:00:00:0b';

describe('reconcileVf against the SPP model over HTTP', () => {
  test('a classifier port left detached by a cut-short unplug: the next full run re-attaches it and removes its hidden entry', async () => {
    const config = specExampleLayout();
    const layout = indexLayout(config);
    const vf = layout.vfs[0]!;
    const [vhostId, wiring] = [...vf.wirings][0]!;
    const spp = new ModelSpp(config, '18.08');
    spp.mustApply('vfs', vf.clientId, planBuild(vf, spp.status('vfs', vf.clientId), '18.08'));
    const read = () => readActualVhost(spp.status('vfs', vf.clientId), wiring);
    const plug = planVhost(wiring, read(), { kind: 'carry', portId: 'p', mac: MAC, vlanId: 100 });
    assert.ok('calls' in plug);
    spp.mustApply('vfs', vf.clientId, plug.calls);
    const unplug = planVhost(wiring, read(), { kind: 'empty' });
    assert.ok('calls' in unplug);
    // Merger detach + attach, classifier detach; then the agent stopped.
    spp.mustApply('vfs', vf.clientId, unplug.calls.slice(0, 3));
    assert.equal(read().classifierTx, undefined);

    const capture = await CapturingSppCtl.start(spp);
    const client = new SppCtlClient({ baseUrl: capture.url, timeoutMs: 5000 });
    try {
      const desired: DesiredState = {
        vhosts: new Map([...vf.wirings.keys()].map((id) => [id, { kind: 'empty' as const }])),
        plugs: [],
        unplugs: [],
        problems: [],
      };
      const view = new SppView();
      const outcome = await reconcileVf(
        vf,
        desired,
        { full: true, cause: 'start' },
        {
          spp: client,
          dialect: new DialectState('18.08', quiet),
          view,
          problems: new SppProblems(quiet, noAgentMetrics),
          metrics: noAgentMetrics,
          logger: quiet,
          completions: new Completions({} as EtcdStore, 'h', quiet, noAgentMetrics),
        },
      );
      assert.deepEqual(outcome, { kind: 'done' });
      const table = spp.status('vfs', vf.clientId).classifier_table ?? [];
      assert.deepEqual(
        table.filter((entry) => entry.value.toLowerCase().endsWith(MAC)),
        [],
        'the entry hidden while the port was detached is gone',
      );
      assert.deepEqual(
        view.get(vf.clientId)?.get(vhostId),
        read(),
        'the cached view is what SPP shows',
      );
    } finally {
      await client.close();
      await capture.stop();
    }
  });
});
