import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { keys } from '../../src/etcd/keys.js';
import type { KeyValue } from '../../src/etcd/store.js';
import { FREE, encodeJson } from '../../src/etcd/values.js';
import { planHostLayout } from '../../src/layout/host-layout.js';
import { hostFromKvs } from '../../src/snapshot/read.js';
import type { TapFlowRequest } from '../../src/server/taps/plan.js';
import { planTapCreate, planTapDelete, tapInfoValue } from '../../src/server/taps/plan.js';

const HOST = 'h1';
let revision = 10;
const kv = (key: string, value: string): KeyValue => ({
  key,
  value,
  modRevision: ++revision,
  createRevision: revision,
  lease: '0',
});

function host(mirrors: string[], extra: KeyValue[] = [], withMirrors = true) {
  const config = planHostLayout({
    mappings: '00:04.0#phys1#2#0xfe',
    ...(withMirrors ? { mirror: `${mirrors.length}#0xf00` } : {}),
  }).config;
  return hostFromKvs(HOST, [
    kv(keys.configuration(HOST), encodeJson(config)),
    ...mirrors.map((value, id) => kv(keys.mirror(HOST, id), value)),
    ...extra,
  ]);
}

const IN: TapFlowRequest = { flowId: 'f1', sourcePort: 'src', servicePort: 'svc', direction: 'IN' };
const BOTH: TapFlowRequest = { ...IN, direction: 'BOTH' };

describe('tap flow plans of the binding service (pure)', () => {
  test('IN takes the lowest free mirror; tap_info is Python json.dumps in the original key order', () => {
    const plan = planTapCreate(host(['other', FREE, FREE]), IN);
    assert.equal(plan.kind, 'write');
    assert.deepEqual(plan.info, {
      source_port: 'src',
      service_port: 'svc',
      mirror_in: 1,
      mirror_out: null,
    });
    assert.deepEqual(
      plan.operations.filter((op) => 'put' in op),
      [
        { put: keys.mirror(HOST, 1), value: 'f1' },
        {
          put: keys.tapInfo(HOST, 'f1'),
          value:
            '{"service_port": "svc", "source_port": "src", "mirror_in": 1, "mirror_out": null}',
        },
        { put: keys.tapAction(HOST, 'f1'), value: 'plug' },
      ],
    );
  });

  test('BOTH takes two mirrors, tap-in first; not enough free is refused with counts', () => {
    const plan = planTapCreate(host([FREE, 'x', FREE]), BOTH);
    assert.equal(plan.kind, 'write');
    assert.equal(plan.info.mirror_in, 0);
    assert.equal(plan.info.mirror_out, 2);
    const refused = planTapCreate(host([FREE, 'x']), BOTH);
    assert.deepEqual(refused, {
      kind: 'refuse',
      reason: 'no_free_mirror',
      detail: 'host h1 has no free mirror for a BOTH tap flow (2 needed, 1 of 2 in use)',
    });
  });

  test('a retry of the same flow waits for it; another content conflicts; an unplug in progress is busy', () => {
    const info = { service_port: 'svc', source_port: 'src', mirror_in: 0, mirror_out: null };
    const existing = [
      kv(keys.tapInfo(HOST, 'f1'), tapInfoValue(info)),
      kv(keys.tapAction(HOST, 'f1'), 'plug'),
    ];
    const retry = planTapCreate(host(['f1'], existing), IN);
    assert.equal(retry.kind, 'wait');
    assert.equal(retry.kind === 'wait' && retry.up, false);
    const up = planTapCreate(host(['f1'], [...existing, kv(keys.tapStatus(HOST, 'f1'), 'up')]), IN);
    assert.equal(up.kind === 'wait' && up.up, true);
    assert.equal(planTapCreate(host(['f1'], existing), BOTH).kind, 'refuse');
    const unplugging = planTapCreate(
      host(['f1'], [existing[0] as KeyValue, kv(keys.tapAction(HOST, 'f1'), 'unplug')]),
      IN,
    );
    assert.equal(unplugging.kind === 'refuse' && unplugging.reason, 'busy');
  });

  test('a host without mirrors refuses', () => {
    const plan = planTapCreate(host([], [], false), IN);
    assert.equal(plan.kind === 'refuse' && plan.reason, 'no_mirror');
  });

  test('delete: unplug requested, already pending, leftovers cleaned, nothing found', () => {
    const info = kv(
      keys.tapInfo(HOST, 'f1'),
      tapInfoValue({ service_port: 'svc', source_port: 'src', mirror_in: 0, mirror_out: null }),
    );
    const plugged = planTapDelete(
      host(['f1'], [info, kv(keys.tapAction(HOST, 'f1'), 'plug')]),
      'f1',
    );
    assert.equal(plugged.result, 'unplug_requested');
    assert.deepEqual(plugged.kind === 'txn' && plugged.operations, [
      { put: keys.tapAction(HOST, 'f1'), value: 'unplug' },
    ]);
    const pending = planTapDelete(
      host(['f1'], [info, kv(keys.tapAction(HOST, 'f1'), 'unplug')]),
      'f1',
    );
    assert.equal(pending.result, 'already_pending');
    const leftovers = planTapDelete(host(['f1'], [info]), 'f1');
    assert.equal(leftovers.result, 'cleaned');
    assert.deepEqual(leftovers.kind === 'txn' && leftovers.operations, [
      { delete: keys.tapInfo(HOST, 'f1') },
      { put: keys.mirror(HOST, 0), value: FREE },
    ]);
    assert.equal(planTapDelete(host([FREE]), 'f1').result, 'not_found');
  });
});
