import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { IniOptions } from '../../src/config/ini.js';
import { placementOptionsFromIni } from '../../src/placement/options.js';
import { findEndpoint, passwordAuthBody, tokensUrl } from '../../src/placement/keystone.js';

const FILE = '/etc/neutron/neutron.conf';
const read = (text: string) => placementOptionsFromIni(IniOptions.fromText(text, FILE));

const NEUTRON_PLACEMENT = `
[placement]
auth_type = password
auth_url = http://controller:5000
username = neutron
password = Zq-7.x
project_name = service
user_domain_name = Default
project_domain_name = Default
region_name = RegionTwo
`;

describe('[placement] and [spp_placement] options', () => {
  it('is off unless enabled; then nothing else is required', () => {
    const options = read('[placement]\nauth_type = bogus\n');
    assert.equal(options.enabled, false);
    assert.equal(options.auth, undefined);
    assert.equal(options.syncIntervalMs, 60_000);
    assert.equal(options.leaderTtlS, 15);
  });

  it("reads Neutron's [placement] section as it is", () => {
    const options = read(`[spp_placement]\nenabled = true\n${NEUTRON_PLACEMENT}`);
    assert.deepEqual(options.auth, {
      type: 'password',
      authUrl: 'http://controller:5000',
      password: 'Zq-7.x',
      username: 'neutron',
      userDomainName: 'Default',
      projectName: 'service',
      projectDomainName: 'Default',
      regionName: 'RegionTwo',
      interfaces: ['public'],
    });
    assert.equal(options.timeoutMs, 5000);
  });

  it('endpoint_type, or valid_interfaces in order (publicURL style accepted)', () => {
    const base = `[spp_placement]\nenabled = true\n${NEUTRON_PLACEMENT}`;
    const internal = read(`${base}endpoint_type = internal\n`);
    assert.deepEqual(internal.auth?.type === 'password' && internal.auth.interfaces, ['internal']);
    const both = read(`${base}valid_interfaces = internalURL, public\n`);
    assert.deepEqual(both.auth?.type === 'password' && both.auth.interfaces, [
      'internal',
      'public',
    ]);
  });

  it('noauth takes the URL from endpoint_override, or from auth_section as Neutron does', () => {
    const override = read(
      '[spp_placement]\nenabled = true\n[placement]\nauth_type = noauth\nendpoint_override = http://127.0.0.1:8778/\n',
    );
    assert.deepEqual(override.auth, { type: 'noauth', endpoint: 'http://127.0.0.1:8778' });
    const section = read(
      '[spp_placement]\nenabled = true\n[placement]\nauth_type = noauth\nauth_section = http://placement:8778\n',
    );
    assert.deepEqual(section.auth, { type: 'noauth', endpoint: 'http://placement:8778' });
  });

  it('reads hypervisor names, intervals and the lease TTL', () => {
    const options = read(
      `[spp_placement]\nenabled = true\nsync_interval = 30\nleader_ttl = 20\nretry_max_interval = 5\nhypervisor_names = cn1:cn1.example.org, cn2:cn2.example.org\n${NEUTRON_PLACEMENT}timeout = 10\n`,
    );
    assert.equal(options.syncIntervalMs, 30_000);
    assert.equal(options.leaderTtlS, 20);
    assert.equal(options.retryMaxMs, 5000);
    assert.equal(options.timeoutMs, 10_000);
    assert.deepEqual(
      [...options.hypervisorNames],
      [
        ['cn1', 'cn1.example.org'],
        ['cn2', 'cn2.example.org'],
      ],
    );
  });

  const errors: Array<[string, string, RegExp]> = [
    [
      'no auth_type',
      '[placement]\n',
      /^\[placement\] auth_type is not set: set password \(Keystone\) or noauth$/,
    ],
    [
      'an unknown auth_type',
      '[placement]\nauth_type = token\n',
      /^\/etc\/neutron\/neutron.conf: \[placement\] auth_type = "token": must be one of password, v3password, noauth$/,
    ],
    [
      'an auth_url that is no URL',
      NEUTRON_PLACEMENT.replace('http://controller:5000', 'controller'),
      /^\/etc\/neutron\/neutron.conf: \[placement\] auth_url = "controller": not a URL/,
    ],
    [
      'a user name without domain',
      NEUTRON_PLACEMENT.replace('user_domain_name = Default\n', ''),
      /^\[placement\] user_domain_name is not set: a user given by name needs its domain/,
    ],
    [
      'no project',
      NEUTRON_PLACEMENT.replace('project_name = service\n', ''),
      /^\[placement\] project_name is not set/,
    ],
    [
      'no password',
      NEUTRON_PLACEMENT.replace('password = Zq-7.x\n', ''),
      /^\[placement\] password is not set/,
    ],
    [
      'a bad interface',
      `${NEUTRON_PLACEMENT}valid_interfaces = public,private\n`,
      /\[placement\] valid_interfaces = "public,private": "private" is not one of public, internal, admin$/,
    ],
    [
      'noauth without URL',
      '[placement]\nauth_type = noauth\n',
      /^\[placement\] endpoint_override is not set: Placement's URL is needed/,
    ],
    [
      'a malformed hypervisor mapping',
      `[spp_placement]\nhypervisor_names = cn1\n${NEUTRON_PLACEMENT}`,
      /\[spp_placement\] hypervisor_names = "cn1": "cn1" is not HOST:HYPERVISOR_NAME$/,
    ],
    [
      'a timeout longer than half the lease',
      `[spp_placement]\nleader_ttl = 6\n${NEUTRON_PLACEMENT}timeout = 4\n`,
      /^\[placement\] timeout \(4 s\) must be at most half of \[spp_placement\] leader_ttl \(6 s\)/,
    ],
  ];
  for (const [what, text, message] of errors) {
    it(`rejects ${what} with one line`, () => {
      const enabled = text.includes('[spp_placement]')
        ? text.replace('[spp_placement]\n', '[spp_placement]\nenabled = true\n')
        : `[spp_placement]\nenabled = true\n${text}`;
      assert.throws(
        () => read(enabled),
        (error: Error) => {
          assert.equal(error.name, 'InputError');
          assert.match(error.message, message);
          assert.ok(!error.message.includes('\n'), error.message);
          return true;
        },
      );
    });
  }
});

describe('Keystone v3 request and catalog', () => {
  it('builds the password body with names and domains, or ids', () => {
    assert.deepEqual(
      passwordAuthBody({
        type: 'password',
        authUrl: 'http://k',
        password: 'secret',
        username: 'neutron',
        userDomainName: 'Default',
        projectName: 'service',
        projectDomainId: 'default',
        interfaces: ['public'],
      }),
      {
        auth: {
          identity: {
            methods: ['password'],
            password: {
              user: { name: 'neutron', domain: { name: 'Default' }, password: 'secret' },
            },
          },
          scope: { project: { name: 'service', domain: { id: 'default' } } },
        },
      },
    );
    const byId = passwordAuthBody({
      type: 'password',
      authUrl: 'http://k',
      password: 'p',
      userId: 'u-1',
      projectId: 'p-1',
      interfaces: ['public'],
    }) as { auth: { identity: { password: { user: unknown } }; scope: unknown } };
    assert.deepEqual(byId.auth.identity.password.user, { id: 'u-1', password: 'p' });
    assert.deepEqual(byId.auth.scope, { project: { id: 'p-1' } });
  });

  it('finds the tokens URL with or without /v3', () => {
    assert.equal(tokensUrl('http://k:5000'), 'http://k:5000/v3/auth/tokens');
    assert.equal(tokensUrl('http://k:5000/v3/'), 'http://k:5000/v3/auth/tokens');
    assert.equal(tokensUrl('https://k/identity'), 'https://k/identity/v3/auth/tokens');
  });

  it('picks the placement endpoint by region and interface order', () => {
    const catalog = [
      {
        type: 'network',
        endpoints: [{ interface: 'internal', url: 'http://neutron', region_id: 'R1' }],
      },
      {
        type: 'placement',
        endpoints: [
          { interface: 'public', url: 'http://public-r1/placement/', region_id: 'R1' },
          { interface: 'internal', url: 'http://internal-r1', region_id: 'R1' },
          { interface: 'internal', url: 'http://internal-r2', region: 'R2' },
        ],
      },
    ];
    assert.equal(findEndpoint(catalog, ['internal', 'public'], 'R1'), 'http://internal-r1');
    assert.equal(findEndpoint(catalog, ['public'], 'R1'), 'http://public-r1/placement');
    assert.equal(findEndpoint(catalog, ['internal'], 'R2'), 'http://internal-r2');
    assert.throws(
      () => findEndpoint(catalog, ['admin'], 'R1'),
      /^Error|catalog has no placement endpoint with interface admin in region R1/,
    );
  });
});
