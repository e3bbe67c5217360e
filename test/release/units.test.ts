/**
 * The systemd units stay hardened and consistent with the exit-code contract. Where
 * systemd-analyze exists, its offline security rating must stay at 2.0 or better (the
 * units were 9.2 "UNSAFE" before hardening).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const UNITS = ['neutron-spp-agent.service', 'networking-spp-server.service'].map((name) =>
  fileURLToPath(new URL(`../../../deploy/systemd/${name}`, import.meta.url)),
);
const ANALYZE = '/usr/bin/systemd-analyze';

function directives(file: string): Map<string, string[]> {
  const found = new Map<string, string[]>();
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const match = /^([A-Za-z]+)=(.*)$/.exec(line);
    if (!match) continue;
    found.set(match[1] as string, [...(found.get(match[1] as string) ?? []), match[2] as string]);
  }
  return found;
}

describe('systemd units', () => {
  for (const unit of UNITS) {
    const name = unit.split('/').pop() as string;
    it(`${name}: hardened, unprivileged, not restarted on bad configuration`, () => {
      const d = directives(unit);
      const one = (key: string) => d.get(key)?.at(-1);
      assert.equal(one('User'), 'neutron');
      assert.equal(one('RestartPreventExitStatus'), '2');
      assert.equal(one('Restart'), 'on-failure');
      for (const key of [
        'NoNewPrivileges',
        'ProtectHome',
        'PrivateTmp',
        'PrivateDevices',
        'ProtectKernelTunables',
        'ProtectControlGroups',
        'RestrictNamespaces',
        'RestrictSUIDSGID',
        'LockPersonality',
      ]) {
        assert.equal(one(key), 'yes', key);
      }
      assert.equal(one('ProtectSystem'), 'strict');
      assert.equal(one('CapabilityBoundingSet'), '');
      assert.equal(one('RestrictAddressFamilies'), 'AF_UNIX AF_INET AF_INET6');
      // Node's JIT needs writable executable memory.
      assert.equal(d.has('MemoryDenyWriteExecute'), false);
      assert.match(
        one('ExecStart') ?? '',
        /^\/usr\/bin\/\S+ .*--config-file \/etc\/neutron\/neutron\.conf/,
      );
    });

    it(
      `${name}: systemd-analyze security rates it 2.0 or better`,
      { skip: !existsSync(ANALYZE) },
      async () => {
        const result = await new Promise<{ code: number; stdout: string }>((resolve) => {
          execFile(
            ANALYZE,
            ['security', '--offline=true', '--threshold=20', unit],
            { timeout: 60_000 },
            (error, stdout) => resolve({ code: error ? Number(error.code ?? 1) : 0, stdout }),
          );
        });
        const rating = /Overall exposure level for \S+: ([0-9.]+)/.exec(result.stdout)?.[1];
        assert.ok(rating !== undefined, result.stdout);
        assert.ok(Number(rating) <= 2.0, `exposure ${rating}`);
        assert.equal(result.code, 0, result.stdout);
      },
    );
  }
});
