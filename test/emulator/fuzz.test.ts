import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import { EmulatorServer } from '../../src/emulator/server.js';
import type { Dialect, HostSpec } from '../../src/emulator/spec.js';
import type { ComponentView, PortView, Reply, StatusView } from './http.js';
import { call, keepAlive } from './http.js';

/**
 * Property: random sequences of spp-ctl REST calls (valid, invalid and malformed) never crash
 * the emulator — every answer is one spp-ctl can give (SPP-SPEC §2.2), a 500 only for a
 * request spp-ctl itself rejects with its KeyInvalid bug or a body it cannot parse (§2.3,
 * §2.4) — and after every call the process status satisfies the model's invariants (§4.3,
 * §5.2–§5.6) and reflects the call's success (§9.2 item 11).
 */

const NICS = 2;
const RINGS = 6;
/** vf 1: master 1, workers 2..5; vf 2: master 6, workers 7, 8; mirror 3: master 9, worker 10. */
const PROCESSES = [
  { type: 'vf', clientId: 1, coreMask: '0x3e', workers: [2, 3, 4, 5], master: 1 },
  { type: 'vf', clientId: 2, coreMask: '0x1c0', workers: [7, 8], master: 6 },
  { type: 'mirror', clientId: 3, coreMask: '0x600', workers: [10], master: 9 },
] as const;
const RUNS_PER_DIALECT = 100;
const MAX_CALLS = 30;
/**
 * Fixed by default so that every run of the test command explores the same sequences (and
 * the coverage check below cannot fail by chance); set FUZZ_SEED to explore others.
 */
const FUZZ_SEED = Number(process.env.FUZZ_SEED ?? 20261130);

/** A generated request plus what the generator knows about it. */
interface FuzzCall {
  method: string;
  path: string;
  json?: unknown;
  raw?: { text: string; contentType?: string };
  /** The request carries a value spp-ctl rejects with a 500 (KeyInvalid bug, %d crash, ...). */
  may500: boolean;
  /** The secondary the request is for, and what a 204 means for its next status. */
  target?: { kind: 'vfs' | 'mirrors'; id: number };
  effect?: Effect;
}

type Effect =
  | { kind: 'started'; name: string; core: number }
  | { kind: 'stopped'; name: string }
  | { kind: 'attached'; name: string; port: string; dir: 'rx' | 'tx'; vlanAdd: boolean }
  | { kind: 'detached'; name: string; port: string; dir: 'rx' | 'tx' }
  | { kind: 'entry-added'; value: string }
  | { kind: 'entry-deleted'; port: string }
  | { kind: 'restarted' };

// ---- what spp-ctl accepts (SPP-SPEC §3.3), written independently of the emulator ---------

const PY_INT = /^\s*[+-]?[0-9](_?[0-9])*\s*$/;

function pyIntable(value: unknown): boolean {
  if (typeof value === 'number') return Number.isFinite(value);
  if (typeof value === 'boolean') return true;
  return typeof value === 'string' && PY_INT.test(value);
}

function portSyntaxOk(port: unknown, dialect: Dialect): boolean {
  if (typeof port !== 'string') return false;
  const parts = port.split(':');
  if (parts.length !== 2) return false;
  const types = ['phy', 'vhost', 'ring', 'pcap', 'nullpmd'];
  if (dialect === '19.11') types.push('tap', 'memif', 'pipe');
  return types.includes(parts[0] as string) && PY_INT.test(parts[1] as string);
}

/** netaddr.EUI for the MACs the generator uses. */
function netaddrOk(mac: unknown): boolean {
  return typeof mac === 'string' && /^[0-9a-fA-F]{2}([:-][0-9a-fA-F]{2}){5}$/.test(mac);
}

/** The secondary's reading of `type:<n>` (strtol base 0); undefined if not a valid port. */
function sppPort(port: unknown): string | undefined {
  if (typeof port !== 'string') return undefined;
  const match = /^(phy|vhost|ring):([0-9]+)$/.exec(port);
  if (!match) return undefined;
  const digits = match[2] as string;
  if (digits.length > 1 && digits.startsWith('0')) {
    return /^[0-7]+$/.test(digits) ? `${match[1]}:${parseInt(digits, 8)}` : undefined;
  }
  return `${match[1]}:${parseInt(digits, 10)}`;
}

// ---- generators --------------------------------------------------------------------------

const GOOD_PORTS = [
  'phy:0',
  'phy:1',
  'ring:0',
  'ring:1',
  'ring:2',
  'ring:3',
  'ring:4',
  'ring:5',
  'vhost:0',
  'vhost:1',
];

function callArbitrary(dialect: Dialect): fc.Arbitrary<FuzzCall> {
  const v18 = dialect === '18.08';
  /** Mostly values the secondaries accept, sometimes ones spp-ctl or the secondary rejects. */
  const mostly = <T>(valid: T[], rare: T[], weight = 8): fc.Arbitrary<T> =>
    fc.oneof(
      { arbitrary: fc.constantFrom(...valid), weight },
      { arbitrary: fc.constantFrom(...rare), weight: 1 },
    );
  const id = mostly([1, 1, 1, 2, 3, 3], [7, 0]);
  const name = fc.constantFrom('a', 'b', 'cls', 'm');
  const port = mostly(
    [...GOOD_PORTS],
    ['phy:2', 'ring:6', 'ring:04', 'vhost:40', 'pcap:0', 'ring0', 'ring:x'],
    12,
  );
  const dir = mostly(['rx', 'tx'], ['both'], 20);
  const vlan = fc.oneof(
    { arbitrary: fc.constant(undefined), weight: 6 },
    {
      arbitrary: fc.record(
        {
          operation: mostly(['none', 'add', 'add', 'del'], ['xx']),
          id: mostly<unknown>([0, 100, 4095], [5000, '7']),
          pcp: mostly<unknown>([0, 3, 7], [9]),
        },
        { requiredKeys: ['operation'] },
      ),
      weight: 3,
    },
    { arbitrary: fc.constant({}), weight: 1 },
  );
  const mac = mostly(
    ['fa:16:3e:00:00:01', 'FA:16:3E:00:00:01', 'fa:16:3e:00:00:02', 'fa:16:3e:00:00:03', 'default'],
    ['zz', 'fa-16-3e-00-00-03'],
  );
  const dropOne = (...keys: string[]) =>
    fc.oneof(
      { arbitrary: fc.constant(undefined), weight: 15 },
      { arbitrary: fc.constantFrom(...keys), weight: 1 },
    );
  const dropKey = dropOne('name', 'core', 'type', 'action', 'port', 'dir');
  const without = (body: Record<string, unknown>, key: string | undefined) => {
    if (key !== undefined) delete body[key];
    return body;
  };
  const kindOf = (target: number): 'vfs' | 'mirrors' =>
    PROCESSES.find((p) => p.clientId === target)?.type === 'mirror' ? 'mirrors' : 'vfs';

  // Cores and types mostly fit the target process, so components do get started.
  const start = id
    .chain((target) => {
      const process = PROCESSES.find((p) => p.clientId === target);
      const mirror = process?.type === 'mirror';
      return fc.record({
        id: fc.constant(target),
        name,
        core: mostly<unknown>(
          process ? [...process.workers] : [2],
          [0, 1, 6, 9, 11, 200, '3', true],
          4,
        ),
        type: mostly(
          mirror ? ['mirror'] : ['forward', 'merge', v18 ? 'classifier_mac' : 'classifier'],
          [mirror ? 'forward' : 'mirror', v18 ? 'classifier' : 'classifier_mac', 'x'],
          4,
        ),
        drop: dropKey,
        wrongKind: mostly([false], [true], 10),
      });
    })
    .map((fields) => startCall(fields));

  function startCall({
    id: target,
    name: n,
    core: c,
    type: t,
    drop,
    wrongKind,
  }: {
    id: number;
    name: string;
    core: unknown;
    type: string;
    drop: string | undefined;
    wrongKind: boolean;
  }): FuzzCall {
    let kind = kindOf(target);
    if (wrongKind) kind = kind === 'vfs' ? 'mirrors' : 'vfs';
    const body = without({ name: n, core: c, type: t }, drop);
    const types =
      kind === 'mirrors' ? ['mirror'] : ['forward', 'merge', v18 ? 'classifier_mac' : 'classifier'];
    const valid = typeof c === 'number' || typeof c === 'boolean';
    return {
      method: 'POST',
      path: `/v1/${kind}/${target}/components`,
      json: body,
      may500: !valid || !types.includes(t),
      target: { kind, id: target },
      ...(typeof c === 'number' ? { effect: { kind: 'started', name: n, core: c } } : {}),
    };
  }

  const stop = fc.record({ id, name }).map(({ id: target, name: n }): FuzzCall => ({
    method: 'DELETE',
    path: `/v1/${kindOf(target)}/${target}/components/${n}`,
    may500: false,
    target: { kind: kindOf(target), id: target },
    effect: { kind: 'stopped', name: n },
  }));

  const ports = fc
    .record({
      id,
      name,
      action: mostly(['attach', 'attach', 'detach'], ['plug'], 20),
      port,
      dir,
      vlan,
      drop: dropKey,
    })
    .map((fields) => portsCall(fields));

  function portsCall({
    id: target,
    name: n,
    action,
    port: p,
    dir: d,
    vlan: vlanValue,
    drop,
  }: {
    id: number;
    name: string;
    action: string;
    port: string;
    dir: string;
    vlan: unknown;
    drop: string | undefined;
  }): FuzzCall {
    const kind = kindOf(target);
    const v = vlanValue as Record<string, unknown> | undefined;
    const body = without(
      { action, port: p, dir: d, ...(v !== undefined ? { vlan: v } : {}) },
      drop,
    );
    let may500 =
      (action !== 'attach' && action !== 'detach') ||
      (d !== 'rx' && d !== 'tx') ||
      !portSyntaxOk(p, dialect);
    const vlanTruthy = v !== undefined && Object.keys(v).length > 0;
    const vlanAdd = kind === 'vfs' && action === 'attach' && vlanTruthy && v.operation === 'add';
    if (kind === 'vfs' && action === 'attach' && vlanTruthy) {
      const op = v.operation;
      if (op !== 'none' && op !== 'add' && op !== 'del') may500 = true;
      if (op === 'add') {
        // int() must succeed, then `%d` must: a numeric string passes one and fails the other.
        if (!('id' in v) || !('pcp' in v)) may500 = true;
        if (typeof v.id !== 'number' || typeof v.pcp !== 'number') may500 = true;
      }
    }
    const normal = sppPort(p);
    const effect: Effect | undefined =
      normal === undefined || (d !== 'rx' && d !== 'tx')
        ? undefined
        : action === 'attach'
          ? { kind: 'attached', name: n, port: normal, dir: d, vlanAdd }
          : action === 'detach'
            ? { kind: 'detached', name: n, port: normal, dir: d }
            : undefined;
    return {
      method: 'PUT',
      path: `/v1/${kind}/${target}/components/${n}/ports`,
      json: body,
      may500,
      target: { kind, id: target },
      ...(effect ? { effect } : {}),
    };
  }

  const table = fc
    .record({
      id,
      action: mostly(['add', 'add', 'del'], ['set']),
      type: mostly(['mac', 'vlan'], ['ip']),
      mac,
      port,
      vlan: mostly<unknown>([100, 200, '100', 4095], [undefined, 0, 5000, 'x'], 5),
      drop: dropOne('action', 'type', 'port', 'mac_address'),
    })
    .map((fields) => tableCall(fields));

  function tableCall({
    id: target,
    action,
    type: t,
    mac: m,
    port: p,
    vlan: v,
    drop,
  }: {
    id: number;
    action: string;
    type: string;
    mac: string;
    port: string;
    vlan: unknown;
    drop: string | undefined;
  }): FuzzCall {
    const body = without(
      { action, type: t, mac_address: m, port: p, ...(v !== undefined ? { vlan: v } : {}) },
      drop,
    );
    const macOk = m === 'default' ? !v18 : netaddrOk(m);
    const may500 =
      (action !== 'add' && action !== 'del') ||
      (t !== 'mac' && t !== 'vlan') ||
      !portSyntaxOk(p, dialect) ||
      !macOk ||
      (t === 'vlan' && !pyIntable(v));
    const normal = sppPort(p);
    let effect: Effect | undefined;
    if (normal !== undefined && action === 'del') effect = { kind: 'entry-deleted', port: normal };
    const colonMac = /^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/.test(m);
    if (normal !== undefined && action === 'add' && (colonMac || m === 'default')) {
      const shown = m === 'default' ? 'default' : m.toUpperCase();
      const vid = t === 'vlan' ? Number(v) : 4095;
      effect = { kind: 'entry-added', value: vid === 4095 ? shown : `${vid}/${shown}` };
    }
    return {
      method: 'PUT',
      path: `/v1/${kindOf(target)}/${target}/classifier_table`,
      json: body,
      may500,
      target: { kind: kindOf(target), id: target },
      ...(effect ? { effect } : {}),
    };
  }

  const malformed = fc
    .record({
      id,
      text: fc.constantFrom('{"name": ', '', 'null', '[1, 2]', '"x"', '{"a": NaN}'),
      contentType: fc.constantFrom<string | undefined>('application/json', 'text/plain', undefined),
    })
    .map(({ id: target, text, contentType }): FuzzCall => {
      // Unparsable text is a 500 in 18.08 (400 in 19.11); `null`/`"x"` bodies make spp-ctl's
      // `'name' in body` raise TypeError: 500 in both.
      const emptyJson = text === '' && contentType === 'application/json';
      const parsable = text !== '' && text !== '{"name": ';
      return {
        method: 'POST',
        path: `/v1/${kindOf(target)}/${target}/components`,
        raw: { text, ...(contentType !== undefined ? { contentType } : {}) },
        may500: emptyJson || !parsable || text === 'null' || text === '"x"',
      };
    });

  const misc = fc.constantFrom<FuzzCall>(
    { method: 'GET', path: '/v1/processes', may500: false },
    { method: 'GET', path: '/v1/primary/status', may500: false },
    { method: 'GET', path: '/v1/vfs/abc', may500: false },
    { method: 'GET', path: '/v1/nope', may500: false },
    { method: 'DELETE', path: '/v1/vfs/2', may500: false },
    { method: 'PATCH', path: '/v1/vfs/1', may500: false },
    {
      method: 'POST',
      path: '/_emulator/processes/1/restart',
      may500: false,
      target: { kind: 'vfs', id: 1 },
      effect: { kind: 'restarted' },
    },
  );

  // Calls that fit their target (right cores, types, port syntax), so that runs reach deep
  // states: components with ports, VLAN ops, classifier entries.
  const coherent = fc.constantFrom(1, 1, 1, 1, 2, 3).chain((target) => {
    const process = PROCESSES.find((p) => p.clientId === target) as (typeof PROCESSES)[number];
    const mirror = process.type === 'mirror';
    const own = mirror ? fc.constantFrom('m', 'n') : fc.constantFrom('a', 'b', 'cls');
    const goodPort = fc.constantFrom(...GOOD_PORTS);
    const goodVlan = mirror
      ? fc.constant(undefined)
      : fc.oneof(
          { arbitrary: fc.constant(undefined), weight: 4 },
          {
            arbitrary: fc.record({
              operation: fc.constant('add'),
              id: fc.constantFrom(100, 200),
              pcp: fc.constantFrom(0, 3),
            }),
            weight: 1,
          },
          { arbitrary: fc.constant({ operation: 'del' }), weight: 1 },
        );
    const fixed = { id: fc.constant(target), drop: fc.constant(undefined) };
    const typeByName = (n: string) =>
      n === 'a' ? 'forward' : n === 'b' ? 'merge' : v18 ? 'classifier_mac' : 'classifier';
    const coreByName = (n: string) =>
      process.workers[['a', 'b', 'cls', 'm', 'n'].indexOf(n) % process.workers.length] as number;
    const options: Array<{ arbitrary: fc.Arbitrary<FuzzCall>; weight: number }> = [
      {
        weight: 3,
        arbitrary: fc
          .record({
            ...fixed,
            name: own,
            core: fc.constantFrom<unknown>(...process.workers),
            wrongKind: fc.constant(false),
            // Mostly the type its name suggests (a forward, b merge, cls classifier).
            typed: mostly([true], [false], 4),
            other: fc.constantFrom('forward', 'merge', v18 ? 'classifier_mac' : 'classifier'),
          })
          .map(({ typed, other, ...fields }) =>
            startCall({
              ...fields,
              // Typed components also get a core of their own (18.08 cannot mix types).
              core: typed ? coreByName(fields.name) : fields.core,
              type: mirror ? 'mirror' : typed ? typeByName(fields.name) : other,
            }),
          ),
      },
      {
        weight: 9,
        arbitrary: fc
          .record({
            ...fixed,
            name: own,
            action: fc.constantFrom('attach', 'attach', 'attach', 'detach'),
            port: goodPort,
            dir: fc.constantFrom('rx', 'tx'),
            vlan: goodVlan,
          })
          .map((fields) => portsCall(fields)),
      },
      {
        weight: 1,
        arbitrary: own.map((n): FuzzCall => ({
          method: 'DELETE',
          path: `/v1/${kindOf(target)}/${target}/components/${n}`,
          may500: false,
          target: { kind: kindOf(target), id: target },
          effect: { kind: 'stopped', name: n },
        })),
      },
    ];
    if (!mirror) {
      options.push({
        weight: 4,
        arbitrary: fc
          .record({
            ...fixed,
            action: fc.constantFrom('add', 'add', 'del'),
            type: fc.constantFrom('mac', 'vlan'),
            mac: fc.constantFrom('fa:16:3e:00:00:01', 'fa:16:3e:00:00:02', 'FA:16:3E:00:00:03'),
            port: goodPort,
            vlan: fc.constantFrom<unknown>(100, 200),
          })
          .map((fields) => tableCall(fields)),
      });
    }
    return fc.oneof(...options);
  });

  const noise = fc.oneof(
    { arbitrary: start, weight: 3 },
    { arbitrary: stop, weight: 1 },
    { arbitrary: ports, weight: 6 },
    { arbitrary: table, weight: 3 },
    { arbitrary: malformed, weight: 1 },
    { arbitrary: misc, weight: 1 },
  );
  return fc.oneof({ arbitrary: coherent, weight: 4 }, { arbitrary: noise, weight: 1 });
}

/** Components a run may start first (so that later calls find them), as spp-ctl calls. */
function prologue(dialect: Dialect): FuzzCall[] {
  const classifier = dialect === '18.08' ? 'classifier_mac' : 'classifier';
  const starts: Array<[number, string, number, string]> = [
    [1, 'a', 2, 'forward'],
    [1, 'b', 3, 'merge'],
    [1, 'cls', 4, classifier],
    [2, 'cls', 7, classifier],
    [2, 'b', 8, 'merge'],
    [3, 'm', 10, 'mirror'],
  ];
  return starts.map(([id, name, core, type]) => {
    const kind = id === 3 ? 'mirrors' : 'vfs';
    return {
      method: 'POST',
      path: `/v1/${kind}/${id}/components`,
      json: { name, core, type },
      may500: false,
      target: { kind, id },
      effect: { kind: 'started', name, core },
    };
  });
}

/** One run: some of the prologue's starts, then random calls; at most MAX_CALLS in all. */
function runArbitrary(dialect: Dialect): fc.Arbitrary<FuzzCall[]> {
  const first = prologue(dialect);
  return fc
    .tuple(
      fc.subarray(first),
      fc.array(callArbitrary(dialect), {
        minLength: MAX_CALLS - first.length,
        maxLength: MAX_CALLS - first.length,
      }),
    )
    .map(([starts, rest]) => [...starts, ...rest]);
}

// ---- checks ------------------------------------------------------------------------------

const ERROR_400 = /^(key\([a-z_]+\) required\.|command error: .+|Not in json format\.)$/;
const ERROR_404 = /^(sec_id -?[0-9]+ not found\.|Not found: '.*'|primary not found\.)$/;
const ENTRY_VALUE = /^([0-9]{1,4}\/)?([0-9A-F]{2}(:[0-9A-F]{2}){5}|default)$/;
const LIMITS: Record<string, { rx?: number; tx?: number }> = {
  forward: { rx: 1, tx: 1 },
  merge: { tx: 1 },
  classifier_mac: { rx: 1 },
  classifier: { rx: 1 },
  mirror: { rx: 1, tx: 2 },
};

function checkReply(request: FuzzCall, reply: Reply): void {
  const what = `${request.method} ${request.path} ${JSON.stringify(request.json ?? request.raw)} -> ${reply.status} ${reply.text}`;
  if (request.path.startsWith('/_emulator')) {
    assert.equal(reply.status, 204, what);
    return;
  }
  assert.ok([200, 204, 400, 404, 405, 500].includes(reply.status), what);
  if (reply.status === 204) assert.deepEqual([reply.type, reply.text], [undefined, ''], what);
  else if (reply.status === 200) assert.equal(reply.type, 'application/json', what);
  else assert.equal(reply.type, 'text/plain', what);
  if (reply.status === 400) assert.match(reply.text, ERROR_400, what);
  if (reply.status === 404) assert.match(reply.text, ERROR_404, what);
  if (reply.status === 405) assert.equal(reply.text, 'Method not allowed.', what);
  if (reply.status === 500) {
    assert.equal(reply.text, 'Internal Server Error', what);
    assert.ok(request.may500, `undocumented 500: ${what}`);
  }
}

function checkVlan(port: PortView, where: string): void {
  const { vlan } = port;
  assert.deepEqual(Object.keys(vlan), ['operation', 'id', 'pcp'], where);
  if (vlan.operation === 'add') {
    assert.ok(vlan.id >= 0 && vlan.id <= 4095 && vlan.pcp >= 0 && vlan.pcp <= 7, where);
  } else {
    assert.ok(vlan.operation === 'none' || vlan.operation === 'del', where);
    assert.deepEqual([vlan.id, vlan.pcp], [0, 0], where);
  }
}

/** Invariants of one GET /v1/vfs|mirrors/{id} body (SPP-SPEC §4, §5.2–§5.6). */
function checkStatus(
  status: StatusView,
  process: (typeof PROCESSES)[number],
  dialect: Dialect,
  sharedByOverride: Set<string>,
): void {
  const where = (detail: string) =>
    `client ${process.clientId}: ${detail}\n${JSON.stringify(status)}`;
  const keys = Object.keys(status);
  const expectedKeys = ['client-id', 'ports'];
  if (dialect === '19.11') expectedKeys.push('master-lcore');
  expectedKeys.push('components');
  if (process.type === 'vf') expectedKeys.push('classifier_table');
  assert.deepEqual(keys, expectedKeys, where('keys'));
  assert.equal(status['client-id'], process.clientId);
  if (dialect === '19.11') assert.equal(status['master-lcore'], process.master, where('master'));

  // ports: every phy, then created vhosts and rings ascending, within the tables.
  const phys = Array.from({ length: NICS }, (_, index) => `phy:${index}`);
  assert.deepEqual(status.ports.slice(0, NICS), phys, where('phys first'));
  const rest = status.ports.slice(NICS);
  const vhosts = rest.filter((port) => port.startsWith('vhost:'));
  const rings = rest.filter((port) => port.startsWith('ring:'));
  assert.deepEqual(rest, [...vhosts, ...rings], where('vhosts before rings'));
  for (const group of [vhosts, rings]) {
    const indices = group.map((port) => Number(port.split(':')[1]));
    assert.deepEqual(
      indices,
      [...new Set(indices)].sort((a, b) => a - b),
      where('ascending'),
    );
    assert.ok(
      indices.every((index) => index >= 0 && index < 32),
      where('index range'),
    );
  }
  assert.ok(
    rings.every((port) => Number(port.split(':')[1]) < RINGS),
    where('rings exist in spp_primary'),
  );

  // components: every worker lcore, ascending; unuse entries without name.
  const cores = status.components.map((component) => component.core);
  assert.deepEqual(
    [...new Set(cores)],
    [...process.workers],
    where('one or more entries per worker'),
  );
  assert.deepEqual(
    cores,
    [...cores].sort((a, b) => a - b),
    where('lcores ascending'),
  );
  const named: ComponentView[] = [];
  for (const component of status.components) {
    if (component.type === 'unuse') {
      assert.deepEqual(Object.keys(component), ['core', 'type'], where('unuse entry'));
      assert.equal(
        status.components.filter((other) => other.core === component.core).length,
        1,
        where('unuse only on an empty lcore'),
      );
      continue;
    }
    assert.deepEqual(
      Object.keys(component),
      ['core', 'name', 'type', 'rx_port', 'tx_port'],
      where('component entry'),
    );
    const types =
      process.type === 'mirror'
        ? ['mirror']
        : ['forward', 'merge', dialect === '18.08' ? 'classifier_mac' : 'classifier'];
    assert.ok(types.includes(component.type), where(`type ${component.type}`));
    named.push(component);
  }
  const names = named.map((component) => component.name);
  assert.equal(new Set(names).size, names.length, where('names unique'));

  const users = new Map<string, number>();
  for (const component of named) {
    for (const dir of ['rx', 'tx'] as const) {
      const list = component[`${dir}_port`] ?? [];
      const limit = LIMITS[component.type]?.[dir];
      if (limit !== undefined)
        assert.ok(list.length <= limit, where(`${component.name} ${dir} limit`));
      const seen = new Set<string>();
      for (const port of list) {
        checkVlan(port, where(`${component.name} ${port.port}`));
        assert.ok(status.ports.includes(port.port), where(`${port.port} is a created port`));
        assert.ok(!seen.has(port.port), where(`${port.port} twice in ${component.name} ${dir}`));
        seen.add(port.port);
        const key = `${port.port}|${dir}`;
        users.set(key, (users.get(key) ?? 0) + 1);
      }
    }
  }
  for (const [key, count] of users) {
    // A port is used once per direction per process, unless attached with the add_vlantag
    // override form, which skips the in-use checks (SPP-SPEC §5.4).
    if (count > 1) {
      assert.ok(
        sharedByOverride.has(`${process.clientId}|${key}`),
        where(`${key} attached ${count} times`),
      );
    }
  }

  if (process.type !== 'vf') return;
  const classifierTx = new Set(
    named
      .filter((component) => component.type.startsWith('classifier'))
      .flatMap((component) => (component.tx_port ?? []).map((port) => port.port)),
  );
  const entryPorts: string[] = [];
  for (const entry of status.classifier_table ?? []) {
    assert.deepEqual(Object.keys(entry), ['type', 'value', 'port'], where('entry keys'));
    assert.match(entry.value, ENTRY_VALUE, where('entry value'));
    assert.equal(entry.type, entry.value.includes('/') ? 'vlan' : 'mac', where('entry type'));
    assert.ok(classifierTx.has(entry.port), where(`${entry.port} is a classifier tx port`));
    entryPorts.push(entry.port);
  }
  assert.equal(new Set(entryPorts).size, entryPorts.length, where('one entry per port'));
}

function checkEffect(effect: Effect, status: StatusView): void {
  const where = `${JSON.stringify(effect)} not visible in ${JSON.stringify(status)}`;
  const component = (name: string) => status.components.find((c) => c.name === name);
  switch (effect.kind) {
    case 'started':
      assert.equal(component(effect.name)?.core, effect.core, where);
      break;
    case 'stopped':
      assert.equal(component(effect.name), undefined, where);
      break;
    case 'attached':
      assert.ok(
        component(effect.name)?.[`${effect.dir}_port`]?.some((port) => port.port === effect.port),
        where,
      );
      break;
    case 'detached':
      assert.ok(
        !component(effect.name)?.[`${effect.dir}_port`]?.some((port) => port.port === effect.port),
        where,
      );
      break;
    case 'entry-added':
      // Listed only while the port is a tx port of a classifier (§4.3).
      break;
    case 'entry-deleted':
      assert.ok(
        !(status.classifier_table ?? []).some((entry) => entry.port === effect.port),
        where,
      );
      break;
    case 'restarted':
      assert.ok(
        status.components.every((c) => c.type === 'unuse'),
        where,
      );
      assert.deepEqual(status.classifier_table, [], where);
      break;
  }
}

for (const dialect of ['18.08', '19.11'] as const) {
  describe(`random REST sequences, ${dialect}`, () => {
    const spec: HostSpec = {
      nics: NICS,
      rings: RINGS,
      dialect,
      processes: PROCESSES.map(({ type, clientId, coreMask }) => ({ type, clientId, coreMask })),
    };
    let emulator: EmulatorServer;
    const dispatcher = keepAlive();
    before(async () => {
      emulator = await EmulatorServer.start(spec);
    });
    after(async () => {
      await dispatcher.close();
      await emulator.stop();
    });

    const statusOf = async (id: number): Promise<StatusView | undefined> => {
      const process = PROCESSES.find((p) => p.clientId === id);
      if (!process) return undefined;
      const reply = await call(emulator.url, 'GET', `/v1/${process.type}s/${id}`, { dispatcher });
      if (reply.status === 404 && reply.text === `sec_id ${id} not found.`) return undefined;
      assert.equal(reply.status, 200, `GET of client ${id}: ${reply.text}`);
      return JSON.parse(reply.text) as StatusView;
    };

    test(`${RUNS_PER_DIALECT} runs of up to ${MAX_CALLS} calls keep every invariant`, async (t) => {
      // How much state the runs reached, reported so a weak generator shows.
      const seen = { calls: 0, byStatus: new Map<number, number>(), portsAttached: 0, entries: 0 };
      await fc.assert(
        fc.asyncProperty(runArbitrary(dialect), async (calls) => {
          for (const process of PROCESSES) emulator.restartProcess(process.clientId);
          const sharedByOverride = new Set<string>();
          for (const request of calls) {
            const reply = await call(emulator.url, request.method, request.path, {
              dispatcher,
              ...(request.json !== undefined ? { json: request.json } : {}),
              ...(request.raw !== undefined ? { raw: request.raw.text } : {}),
              ...(request.raw?.contentType !== undefined
                ? { contentType: request.raw.contentType }
                : {}),
            });
            checkReply(request, reply);
            seen.calls += 1;
            seen.byStatus.set(reply.status, (seen.byStatus.get(reply.status) ?? 0) + 1);
            const { target, effect } = request;
            if (effect?.kind === 'attached' && effect.vlanAdd && target) {
              sharedByOverride.add(`${target.id}|${effect.port}|${effect.dir}`);
            }
            if (!target) continue;
            const process = PROCESSES.find((p) => p.clientId === target.id);
            const status = await statusOf(target.id);
            if (!process || !status) continue;
            checkStatus(status, process, dialect, sharedByOverride);
            seen.entries = Math.max(seen.entries, status.classifier_table?.length ?? 0);
            const attached = status.components.reduce(
              (sum, c) => sum + (c.rx_port?.length ?? 0) + (c.tx_port?.length ?? 0),
              0,
            );
            seen.portsAttached = Math.max(seen.portsAttached, attached);
            const sameKind = (process.type === 'vf' ? 'vfs' : 'mirrors') === target.kind;
            if (effect && sameKind && reply.status === 204) checkEffect(effect, status);
          }
          // The server still answers everything, and every process is consistent.
          const table = await call(emulator.url, 'GET', '/v1/processes', { dispatcher });
          assert.equal(table.status, 200);
          const primary = await call(emulator.url, 'GET', '/v1/primary/status', { dispatcher });
          assert.equal(primary.status, 200);
          for (const process of PROCESSES) {
            const status = await statusOf(process.clientId);
            if (status) checkStatus(status, process, dialect, sharedByOverride);
          }
        }),
        { numRuns: RUNS_PER_DIALECT, seed: FUZZ_SEED },
      );
      const statuses = [...seen.byStatus].sort(([a], [b]) => a - b);
      t.diagnostic(
        `seed ${FUZZ_SEED}: ${seen.calls} calls; answers ${statuses.map(([code, n]) => `${code}x${n}`).join(' ')}; ` +
          `most ports attached in one process ${seen.portsAttached}; most classifier entries ${seen.entries}`,
      );
      assert.ok(
        seen.portsAttached >= 5 && seen.entries >= 1,
        'the runs reached non-trivial states',
      );
    });
  });
}
