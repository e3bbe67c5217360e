import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import type { AnnounceSchedule } from '../../src/agent/announce.js';
import {
  ORIGINAL_DRIVER_SCHEDULE,
  announceOffsets,
  announceWritesPerPlug,
  needsReannounce,
  nextAnnounceAt,
  reannounceTransaction,
} from '../../src/agent/announce.js';
import { keys } from '../../src/etcd/keys.js';
import type { EtcdStore } from '../../src/etcd/store.js';
import { EtcdServer } from '../../src/lab/etcd-server.js';

describe('re-announce schedule (unit)', () => {
  it('re-announces at 50 ms, 200 ms, 0.8 s, 3.2 s and 12.8 s: five extra writes per plug', () => {
    assert.deepEqual(announceOffsets(), [50, 200, 800, 3200, 12_800]);
    assert.equal(announceWritesPerPlug(), 5);
  });

  it('gives the next time strictly after the given one, then none', () => {
    assert.equal(nextAnnounceAt(1000, 1000), 1050);
    assert.equal(nextAnnounceAt(1000, 1049), 1050);
    assert.equal(nextAnnounceAt(1000, 1050), 1200);
    assert.equal(nextAnnounceAt(1000, 13_799), 13_800);
    assert.equal(nextAnnounceAt(1000, 13_800), undefined);
    assert.equal(nextAnnounceAt(1000, 60_000), undefined);
  });

  it('collapses times a busy agent missed into one write', () => {
    // Woken 900 ms late for the 50 ms announce: the next one is 3.2 s, not 200 ms or 0.8 s.
    assert.equal(nextAnnounceAt(0, 950), 3200);
  });

  it('stays below the horizon', () => {
    assert.deepEqual(
      announceOffsets({ firstDelayMs: 100, factor: 2, horizonMs: 800 }),
      [100, 200, 400],
    );
    assert.deepEqual(announceOffsets({ firstDelayMs: 100, factor: 2, horizonMs: 100 }), []);
  });

  it('rejects schedules that would not end', () => {
    assert.throws(
      () => announceOffsets({ firstDelayMs: 0, factor: 2, horizonMs: 1000 }),
      RangeError,
    );
    assert.throws(
      () => announceOffsets({ firstDelayMs: 10, factor: 1, horizonMs: 1000 }),
      RangeError,
    );
    assert.throws(
      () => announceOffsets({ firstDelayMs: 10, factor: 2, horizonMs: Infinity }),
      RangeError,
    );
  });

  it("re-announces only plug requests without our service's marker", () => {
    assert.equal(needsReannounce({ action: 'plug', marked: false }), true);
    assert.equal(needsReannounce({ action: 'plug', marked: true }), false);
    assert.equal(needsReannounce({ action: 'unplug', marked: false }), false);
  });

  it('guards each re-announce by the port keys the agent last saw', () => {
    const txn = reannounceTransaction({
      host: 'c1',
      portId: 'p1',
      bindPortRevision: 10,
      actionRevision: 11,
      statusRevision: 14,
    });
    assert.deepEqual(txn, {
      conditions: [
        { key: '/spp/openstack/bind_port/c1/p1', modRevision: 10 },
        { key: '/spp/openstack/action/c1/p1', modRevision: 11 },
        { key: '/spp/openstack/action/c1/p1', equals: 'plug' },
        { key: '/spp/openstack/port_status/c1/p1', modRevision: 14 },
        { key: '/spp/openstack/port_status/c1/p1', equals: 'up' },
        { key: '/spp/openstack/plug_request/c1/p1', absent: true },
      ],
      operations: [{ put: '/spp/openstack/port_status/c1/p1', value: 'up' }],
    });
  });
});

const schedules: fc.Arbitrary<AnnounceSchedule> = fc.record({
  firstDelayMs: fc.integer({ min: 1, max: 2000 }),
  factor: fc.double({ min: 1.1, max: 10, noNaN: true }),
  horizonMs: fc.integer({ min: 1, max: 120_000 }),
});

describe('re-announce schedule (properties)', () => {
  it('the next time is a scheduled one, after the given time, with none skipped', () => {
    fc.assert(
      fc.property(
        schedules,
        fc.integer({ min: 0, max: 1e9 }),
        fc.integer({ min: -1000, max: 200_000 }),
        (schedule, firstUp, delta) => {
          const offsets = announceOffsets(schedule);
          const next = nextAnnounceAt(firstUp, firstUp + delta, schedule);
          const later = offsets.filter((offset) => firstUp + offset > firstUp + delta);
          if (next === undefined) return later.length === 0;
          return (
            next === firstUp + later[0]! &&
            next > firstUp + delta &&
            next - firstUp < schedule.horizonMs
          );
        },
      ),
    );
  });

  it('following the schedule writes exactly once per offset, then stops', () => {
    fc.assert(
      fc.property(schedules, fc.integer({ min: 0, max: 1e9 }), (schedule, firstUp) => {
        let writes = 0;
        let now = firstUp;
        for (
          let next = nextAnnounceAt(firstUp, now, schedule);
          next !== undefined;
          next = nextAnnounceAt(firstUp, now, schedule)
        ) {
          now = next;
          writes++;
          if (writes > 1000) return false;
        }
        return writes === announceWritesPerPlug(schedule);
      }),
    );
  });

  it('is monotone: a later time never gives an earlier announce', () => {
    fc.assert(
      fc.property(schedules, fc.nat(100_000), fc.nat(100_000), (schedule, a, b) => {
        const [early, late] = a <= b ? [a, b] : [b, a];
        const first = nextAnnounceAt(0, early, schedule);
        const second = nextAnnounceAt(0, late, schedule);
        return second === undefined || (first !== undefined && first <= second);
      }),
    );
  });

  it('a watch opened up to 12.8 s after the first up sees a re-announce within its 20 s, soon', () => {
    const { firstDelayMs, factor } = ORIGINAL_DRIVER_SCHEDULE;
    const last = announceOffsets().at(-1)!;
    fc.assert(
      fc.property(fc.double({ min: 0, max: last, maxExcluded: true, noNaN: true }), (lateness) => {
        const seen = nextAnnounceAt(0, lateness);
        if (seen === undefined) return false;
        const wait = seen - lateness;
        return wait > 0 && wait <= Math.max(firstDelayMs, (factor - 1) * lateness) && wait < 20_000;
      }),
    );
  });
});

describe('re-announce transaction against etcd', () => {
  let etcd: EtcdServer;
  let store: EtcdStore;

  before(async () => {
    etcd = await EtcdServer.launch();
    store = etcd.connectStore();
  });

  after(async () => {
    store?.close();
    await etcd?.dispose();
  });

  async function plugged(portId: string) {
    const bindPortRevision = await store.put(keys.bindPort('c1', portId), '{}');
    const actionRevision = await store.put(keys.action('c1', portId), 'plug');
    const statusRevision = await store.put(keys.portStatus('c1', portId), 'up');
    return { host: 'c1', portId, bindPortRevision, actionRevision, statusRevision };
  }

  async function reannounce(port: Awaited<ReturnType<typeof plugged>>) {
    const { conditions, operations } = reannounceTransaction(port);
    return store.transaction(conditions, operations);
  }

  it('re-puts up (a new revision a late watch sees) while nothing changed, chained', async () => {
    const port = await plugged('p-ok');
    const first = await reannounce(port);
    assert.equal(first.succeeded, true);
    assert.equal((await store.get(keys.portStatus('c1', 'p-ok')))?.modRevision, first.revision);
    const second = await reannounce({ ...port, statusRevision: first.revision });
    assert.equal(second.succeeded, true);
    // A stale status revision (the chain not followed) is refused.
    assert.equal((await reannounce(port)).succeeded, false);
  });

  it('stops after an unplug request, a new plug request, or a marker', async () => {
    const unplugged = await plugged('p-unplug');
    await store.put(keys.action('c1', 'p-unplug'), 'unplug');
    assert.equal((await reannounce(unplugged)).succeeded, false);
    assert.equal(
      (await store.get(keys.portStatus('c1', 'p-unplug')))?.modRevision,
      unplugged.statusRevision,
    );

    const replugged = await plugged('p-again');
    await store.put(keys.bindPort('c1', 'p-again'), '{"vhost_id": 1}');
    assert.equal((await reannounce(replugged)).succeeded, false);

    const marked = await plugged('p-marked');
    await store.put(keys.plugRequest('c1', 'p-marked'), 'networking-spp');
    assert.equal((await reannounce(marked)).succeeded, false);
  });
});
