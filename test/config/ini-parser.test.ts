import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { parseIni } from '../../src/config/ini-parser.js';
import { IniOptions, environmentName, normalizeGroup } from '../../src/config/ini.js';
import { InputError } from '../../src/util/errors.js';

const pairs = (text: string) =>
  parseIni(text, 'f.ini').map(({ section, key, value }) => [section, key, value]);

describe('INI parser (oslo.config iniparser rules)', () => {
  it('keeps everything after "=" and drops only whole comment lines', () => {
    assert.deepEqual(pairs('# c\n; c\n[spp_server]\nauth_token = Zq#7;x\n  \n'), [
      ['spp_server', 'auth_token', 'Zq#7;x'],
    ]);
  });

  it('splits at the first of "=" and ":"', () => {
    assert.deepEqual(pairs('[s]\na: b = c\nd = e:f\n'), [
      ['s', 'a', 'b = c'],
      ['s', 'd', 'e:f'],
    ]);
  });

  it('removes one pair of matching quotes, and only a matching pair', () => {
    assert.deepEqual(
      pairs('[s]\na = "x y"\nb = \'q\'\nc = "open\nd = "\ne = ""x""\nf = "a\'\n').map((p) => p[2]),
      ['x y', 'q', '"open', '', '"x"', '"a\''],
    );
  });

  it('joins continuation lines with a newline until a blank line', () => {
    assert.deepEqual(pairs('[s]\na = 1\n  2\n\t3\n\nb = 4\n'), [
      ['s', 'a', '1\n2\n3'],
      ['s', 'b', '4'],
    ]);
  });

  it('keeps section names exactly as written', () => {
    assert.deepEqual(
      pairs('[ spp ]\na = 1\n[AGENT]\nb = 2\n').map((p) => p[0]),
      [' spp ', 'AGENT'],
    );
  });

  it('accepts \\r\\n and \\r line ends and strips Python white space', () => {
    assert.deepEqual(pairs('[s]\r\na =\u3000v\u00a0\r\rb = w\u001c\r'), [
      ['s', 'a', 'v'],
      ['s', 'b', 'w'],
    ]);
  });

  for (const [text, problem] of [
    ['a = 1\n[s]\n', /line 1: an option before any \[section\]/],
    ['[s]\nnovalue\n', /line 2: neither "=" nor ":"/],
    ['[s]\n= 1\n', /line 2: an option line without a name/],
    ['[s\n', /line 1: a section header must end with "\]"/],
    ['[]\n', /line 1: an empty section name/],
    ['[s]\n\n  orphan\n', /line 3: a continuation line with no option before it/],
    ['\ufeff[s]\n', /byte order mark/],
  ] as const) {
    it(`refuses ${JSON.stringify(text)} naming the file and line`, () => {
      assert.throws(
        () => parseIni(text, '/etc/neutron/x.conf'),
        (error: unknown) =>
          error instanceof InputError &&
          error.message.startsWith('/etc/neutron/x.conf: line ') &&
          problem.test(error.message),
      );
    });
  }

  it('property: rendering assignments and parsing them back gives them again', () => {
    const text = (alphabet: string[]) =>
      fc.array(fc.constantFrom(...alphabet), { maxLength: 10 }).map((c) => c.join('').trim());
    const word = text(['a', 'b', '_', '1', '#', ';', '$', ' ']).filter(
      (w) => w !== '' && !w.startsWith('#') && !w.startsWith(';'),
    );
    // oslo removes a first and last quote that match, even when they are one character.
    const quoted = (v: string) => (v.startsWith('"') || v.startsWith("'")) && v.endsWith(v[0]!);
    const value = text(['x', '#', ';', '=', ':', '$', ' ', '"', "'", '\u3000']).filter(
      (v) => !quoted(v) && v === v.replace(/^[\s\u3000]+|[\s\u3000]+$/g, ''),
    );
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.constantFrom('DEFAULT', 'spp', 'agent'), word, value), {
          minLength: 1,
          maxLength: 10,
        }),
        (assignments) => {
          const text = assignments.map(([s, k, v]) => `[${s}]\n${k} = ${v}\n`).join('\n');
          assert.deepEqual(pairs(text), assignments);
        },
      ),
    );
  });

  it('property: the parser never throws anything but an InputError', () => {
    const piece = fc.constantFrom('[', ']', '=', ':', ' ', '\t', '\n', '\r', '#', ';', '"', 'a');
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 40 }), (chars) => {
        try {
          parseIni(chars.join(''), 'f');
        } catch (error) {
          assert.ok(error instanceof InputError, String(error));
        }
      }),
    );
  });
});

describe('IniOptions (oslo.config lookup rules)', () => {
  it('matches DEFAULT exactly and every other section in any case', () => {
    assert.equal(normalizeGroup('DEFAULT'), 'DEFAULT');
    assert.equal(normalizeGroup('AGENT'), 'agent');
    const ini = IniOptions.fromText('[default]\nhost = a\n[Agent]\nreport_interval = 5\n', 'f');
    assert.equal(ini.lookup('DEFAULT', 'host'), undefined);
    assert.equal(ini.lookup('AGENT', 'report_interval')?.value, '5');
    assert.equal(ini.lookup('AGENT', 'Report_Interval'), undefined);
  });

  it('takes the last assignment of a file and the last file that sets the option', () => {
    const ini = IniOptions.fromText('[agent]\nx = 1\n[AGENT]\nx = 2\ny = 1\n', 'first.ini');
    ini.addText('[AGENT]\nx = 3\n', 'second.ini');
    assert.deepEqual(ini.lookup('AGENT', 'x'), { value: '3', origin: 'second.ini: [AGENT]' });
    assert.deepEqual(ini.lookup('AGENT', 'y'), { value: '1', origin: 'first.ini: [AGENT]' });
  });

  it('lets OS_<GROUP>__<OPTION> win over the files', () => {
    assert.equal(environmentName('spp_server', 'auth_token'), 'OS_SPP_SERVER__AUTH_TOKEN');
    const ini = IniOptions.fromText('[spp]\napi_port = 1\n', 'f', { OS_SPP__API_PORT: '2' });
    assert.deepEqual(ini.lookup('spp', 'api_port'), {
      value: '2',
      origin: 'environment variable OS_SPP__API_PORT',
    });
  });

  it('refuses a file it cannot read, or that is not UTF-8, naming it', () => {
    assert.throws(() => IniOptions.load(['/nonexistent/x.ini'], {}), /config file \/nonexistent/);
  });
});
