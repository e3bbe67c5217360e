import { existsSync, readFileSync } from 'node:fs';
import type { OptionDef } from '../../src/config/option.js';
import type { Case } from './oracle.js';

const lines = (...text: string[]) => text.join('\n') + '\n';

/** Every option of `registry` set to `value`, each in its own group's section. */
export function everyOption(registry: readonly OptionDef[], value: (o: OptionDef) => string) {
  const groups = new Map<string, string[]>();
  for (const option of registry) {
    const list = groups.get(option.group) ?? [];
    list.push(`${option.name} = ${value(option)}`);
    groups.set(option.group, list);
  }
  return [...groups].map(([group, assignments]) => lines(`[${group}]`, ...assignments)).join('');
}

const debianFiles = ['/etc/neutron/neutron.conf', '/etc/neutron/plugins/ml2/ml2_conf.ini'];

/** Files full of what oslo.config reads in its own way; each is read by oslo and by us. */
export function trickyCases(registry: readonly OptionDef[]): Case[] {
  const cases: Case[] = [
    {
      name: 'comment characters inside values',
      files: [
        lines(
          '[spp_server]',
          'auth_token = Zq#7;x',
          '[spp]',
          'auth_token = Zq#7;x',
          'etcd_password = a ;b #c',
          '# a comment',
          '; another comment',
          'api_ip_addr = 10.0.0.1 # not a comment',
        ),
      ],
    },
    {
      name: 'section spellings',
      files: [
        lines(
          '[agent]',
          'report_interval = 7',
          '[default]',
          'host = lower-default',
          '[Default]',
          'transport_url = rabbit://mixed',
          '[SPP]',
          'api_port = 1234',
          '[Spp_Server]',
          'listen_port = 4321',
          '[ spp ]',
          'etcd_host = spaced',
        ),
      ],
    },
    {
      name: 'the same option under several spellings of its section: the last wins',
      files: [
        lines('[AGENT]', 'report_interval = 5', '[agent]', 'report_interval = 9', '[Agent]'),
        lines('[DEFAULT]', 'host = h1', '[DEFAULT]', 'host = h2'),
      ],
    },
    { name: 'every option empty', files: [everyOption(registry, () => '')] },
    { name: 'every option blank with spaces', files: [everyOption(registry, () => ' \t ')] },
    { name: 'every option quoted empty', files: [everyOption(registry, () => '""')] },
    {
      name: 'white space (Python white space, not JavaScript white space)',
      files: [
        lines(
          '[spp]',
          'etcd_host = \u3000spaced\u00a0',
          'api_port =\t 77 \u2003',
          'etcd_timeout = \u001c2.5\u001f',
          'agent_metrics_address = \ufeffbom-inside',
          '[DEFAULT]',
          'host\t=\tname-with-tabs\t',
        ),
      ],
    },
    {
      name: 'quotes',
      files: [
        lines(
          '[spp]',
          'etcd_host = "quoted host"',
          "etcd_username = 'single'",
          'etcd_password = "unclosed',
          'etcd_ca_cert = "',
          'etcd_cert = "mixed\'',
          'etcd_key = ""inner""',
          'api_port = "7778"',
          "spp_dialect = '19.11'",
          '[spp_server]',
          "auth_token = 'a b'",
          'auth_disabled = "false"',
        ),
      ],
    },
    {
      name: 'colon as separator',
      files: [
        lines(
          '[spp]',
          'etcd_host: 10.0.0.1',
          'etcd_endpoints = http://a:2379,b:2379',
          'etcd_username: user=name',
          'etcd_password= pass:word',
          '[DEFAULT]',
          'transport_url: rabbit://u:p@h:5672/',
          'host = a:b',
        ),
      ],
    },
    {
      name: 'continuation lines',
      files: [
        lines(
          '[spp]',
          'etcd_endpoints = 10.0.0.1:2379,',
          '    10.0.0.2:2379,',
          '\t10.0.0.3:2379',
          'api_port = 77',
          '  77',
          'etcd_host = first',
          '  # an indented comment continues the value',
          '',
          '[spp_server]',
          'auth_token = line1',
          '    line2',
        ),
      ],
    },
    {
      name: 'integers as Python reads them',
      files: [
        lines(
          '[spp]',
          'api_port = +77',
          'etcd_port = 2_379',
          'agent_liveness_ttl = 0015',
          'agent_metrics_port = \u0669\u0660\u0669\u0660',
          '[spp_server]',
          'listen_port = 0x10',
        ),
      ],
    },
    {
      name: 'integers Python refuses',
      files: [
        lines(
          '[spp]',
          'api_port = 1__0',
          'etcd_port = 12.0',
          'agent_liveness_ttl = 1e1',
          'agent_metrics_port = _5',
          '[spp_server]',
          'listen_port = 70000',
        ),
      ],
    },
    {
      name: 'floats as Python reads them',
      files: [
        lines(
          '[spp]',
          'etcd_timeout = 1e1',
          'spp_ctl_timeout = .5',
          'reconcile_interval = 5.',
          'retry_max_interval = 1_0.2_5',
          '[agent]',
          'report_interval = -0',
          '[spp_server]',
          'bind_timeout = 2.5E+1',
          'sync_grace = \u0663\u0660',
          'shutdown_grace = 4.000',
        ),
      ],
    },
    {
      name: 'floats out of range or not numbers',
      files: [
        lines(
          '[spp]',
          'etcd_timeout = inf',
          'spp_ctl_timeout = 0.01',
          'reconcile_interval = nan',
          'retry_max_interval = 1_',
          '[agent]',
          'report_interval = -1',
          '[spp_server]',
          'bind_timeout = soon',
          'sync_grace = 1e9',
        ),
      ],
    },
    {
      name: 'booleans and choices',
      files: [
        lines(
          '[spp_server]',
          'auth_disabled = YES',
          'require_etcd_agent = Off',
          '[spp]',
          'spp_dialect = 18.08',
        ),
        lines('[spp_server]', 'auth_disabled = tru', '[spp]', 'spp_dialect = AUTO'),
      ],
    },
    {
      name: 'substitution',
      files: [
        lines(
          '[DEFAULT]',
          'host = node-${transport_url}',
          'transport_url = rabbit://guest:pa$$word@127.0.0.1:5672/',
          '[spp]',
          'api_port = 7700',
          'etcd_host = ${api_ip_addr}',
          'etcd_username = cost\\$5 $7 tail$',
          'etcd_password = $etcd_username-$etcd_port',
          'etcd_ca_cert = ${spp.etcd_timeout}/$AGENT.report_interval',
          'agent_metrics_address = $nosuch',
          'etcd_cert = ${DEFAULT.host}',
          'api_ip_addr = $host',
          'etcd_key = $spp',
          'etcd_endpoints = $etcd_endpoints',
          '[spp_server]',
          'auth_token = $host/$listen_port/$auth_disabled',
          'listen_port = $api_port',
          'bind_timeout = $sync_grace',
          'sync_grace = $bind_timeout',
        ),
      ],
    },
    {
      name: 'repeated --config-file: the later file wins per option',
      files: [
        lines('[spp]', 'etcd_host = first', 'etcd_port = 1111', '[agent]', 'report_interval = 3'),
        lines('[spp]', 'etcd_host = second', '[AGENT]'),
        lines('[SPP]', 'etcd_port = 3333'),
      ],
    },
    {
      name: 'line endings CRLF and CR',
      files: [
        '[spp]\r\netcd_host = crlf\r\napi_port = 88\r\n',
        '[spp_server]\rlisten_port = 99\r\rauth_token = cr\r',
      ],
    },
    {
      name: 'environment variables win over the files',
      files: [lines('[spp]', 'api_port = 1', '[spp_server]', 'auth_token = file')],
      env: {
        OS_SPP__API_PORT: '2',
        OS_SPP_SERVER__AUTH_TOKEN: 'from env',
        OS_AGENT__REPORT_INTERVAL: '',
        OS_DEFAULT__HOST: 'env-host',
        OS_SPP__ETCD_HOST: '$api_port',
        OS_spp__etcd_port: '9',
      },
    },
    { name: 'an option before any section', files: [lines('host = x', '[DEFAULT]')] },
    { name: 'a line without = or :', files: [lines('[spp]', 'etcd_host')] },
    { name: 'an empty option name', files: [lines('[spp]', '= x')] },
    { name: 'a section without ]', files: [lines('[spp', 'etcd_host = x')] },
    { name: 'an empty section name', files: [lines('[]', 'etcd_host = x')] },
    { name: 'a section with a comment after it', files: [lines('[spp] # etcd', 'a = b')] },
    { name: 'a continuation after a blank line', files: [lines('[spp]', 'a = b', '', '  c')] },
    { name: 'a byte order mark', files: [`\ufeff${lines('[spp]', 'etcd_host = x')}`] },
    { name: 'not UTF-8', files: [Buffer.from('[spp]\netcd_host = caf\xe9\n', 'latin1')] },
    { name: 'an empty file', files: [''] },
  ];
  if (debianFiles.every((file) => existsSync(file))) {
    const [neutron, ml2] = debianFiles.map((file) => readFileSync(file, 'utf8')) as [
      string,
      string,
    ];
    cases.push({
      name: "Debian's neutron.conf and ml2_conf.ini with our options added",
      files: [
        neutron + lines('[agent]', 'report_interval = 12', '[DEFAULT]', 'host = compute-1'),
        ml2 + lines('[spp]', 'etcd_host = 10.0.0.7', '[spp_server]', 'auth_token = t0k#en'),
      ],
    });
  }
  return cases;
}
