import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { IniOptions } from '../../src/config/ini.js';
import {
  booleanOption,
  convertValue,
  integerOption,
  secondsOption,
  stringOption,
} from '../../src/config/option.js';
import { pyFloat, pyFloatRepr, pyInt, pyStrip } from '../../src/config/py-text.js';
import { OptionReader } from '../../src/config/reader.js';

describe('Python text semantics', () => {
  it('int() and float() of strings', () => {
    assert.equal(pyInt(' +1_000 '), 1000);
    assert.equal(pyInt('\u0663\u0660'), 30);
    assert.equal(pyInt('007'), 7);
    for (const bad of ['1__0', '_1', '1_', '0x10', '1.0', '', '1 2']) {
      assert.throws(() => pyInt(bad), /not an integer/, bad);
    }
    assert.equal(pyFloat('1e1'), 10);
    assert.equal(pyFloat('.5'), 0.5);
    assert.equal(pyFloat('5.'), 5);
    assert.equal(pyFloat('-Infinity'), -Infinity);
    assert.ok(Number.isNaN(pyFloat('NaN')));
    for (const bad of ['1_', '.', 'e1', '0x1', '1e', 'in f']) {
      assert.throws(() => pyFloat(bad), /not a number/, bad);
    }
  });

  it('repr() of floats', () => {
    const cases: [number, string][] = [
      [30, '30.0'],
      [0.1, '0.1'],
      [1e16, '1e+16'],
      [1e15, '1000000000000000.0'],
      [0.0001, '0.0001'],
      [0.00001, '1e-05'],
      [1.05e-6, '1.05e-06'],
      [-0, '-0.0'],
      [123.456, '123.456'],
    ];
    for (const [value, text] of cases) assert.equal(pyFloatRepr(value), text);
  });

  it('property: repr() of a float reads back as the same float, through float()', () => {
    fc.assert(
      fc.property(fc.double({ noNaN: true, noDefaultInfinity: true }), (value) => {
        assert.ok(Object.is(pyFloat(pyFloatRepr(value)), value));
      }),
    );
  });

  it('property: int() reads every decimal rendering of a safe integer', () => {
    fc.assert(
      fc.property(fc.maxSafeInteger(), fc.constantFrom('', ' ', '\t', '\u3000'), (n, pad) => {
        assert.equal(pyInt(`${pad}${n}${pad}`), n);
        assert.equal(pyStrip(`${pad}x${pad}`), 'x');
      }),
    );
  });
});

describe('option types', () => {
  it('converts as oslo.config does, None only for empty numbers', () => {
    const port = integerOption('spp', 'p', { min: 1, max: 65535, help: '' }).type;
    assert.equal(convertValue(port, ' 80 '), 80);
    assert.equal(convertValue(port, '  '), null);
    assert.throws(() => convertValue(port, '0'), /must be between 1 and 65535/);
    const seconds = secondsOption('spp', 's', { min: 0.1, max: 10, help: '' }).type;
    assert.throws(() => convertValue(seconds, 'soon'), /not a number of seconds/);
    assert.throws(() => convertValue(seconds, 'nan'), /not a number/);
    assert.throws(() => convertValue(seconds, '11'), /between 0.1 and 10 seconds/);
    const flag = booleanOption('s', 'b', { help: '' }).type;
    assert.equal(convertValue(flag, 'On'), true);
    assert.throws(() => convertValue(flag, ''), /not a boolean/);
    const choice = stringOption('s', 'c', { choices: ['a', 'b'], help: '' }).type;
    assert.throws(() => convertValue(choice, 'A'), /must be one of a, b/);
    assert.equal(convertValue(stringOption('s', 'x', { help: '' }).type, ''), '');
  });
});

describe('OptionReader', () => {
  const port = integerOption('spp', 'api_port', { default: 7777, min: 1, max: 65535, help: '' });
  const addr = stringOption('spp', 'api_ip_addr', { default: '127.0.0.1', help: '' });
  const token = stringOption('spp_server', 'auth_token', { secret: true, help: '' });
  const host = stringOption('DEFAULT', 'host', { default: () => 'machine', help: '' });
  const interval = secondsOption('AGENT', 'report_interval', {
    default: 30,
    min: 0,
    max: 100,
    help: '',
  });
  const registry = [port, addr, token, host, interval];
  const read = (text: string) => new OptionReader(IniOptions.fromText(text, 'x.ini'), registry);

  it('applies defaults for unset and empty options', () => {
    const reader = read('[spp]\napi_port =\napi_ip_addr =\n');
    assert.equal(reader.get(port), 7777);
    assert.equal(reader.osloValue(port), null);
    assert.equal(reader.get(addr), '127.0.0.1');
    assert.equal(reader.osloValue(addr), '');
    assert.equal(reader.get(token), undefined);
    assert.equal(reader.get(host), 'machine');
    assert.equal(reader.isSet(port), true);
    assert.equal(reader.isSet(interval), false);
  });

  it('substitutes $name, ${group.name}, $$ and \\$ like oslo.config', () => {
    const reader = read(
      '[DEFAULT]\nhost = h-$$-\\$x\n[spp]\napi_ip_addr = ${AGENT.report_interval}:$api_port:$host\napi_port = 81\n',
    );
    assert.equal(reader.get(host), 'h-$-$x');
    assert.equal(reader.get(addr), '30.0:81:h-$-$x');
  });

  it('names file, section, option and value in errors, hiding secrets', () => {
    assert.throws(() => read('[SPP]\napi_port = eighty\n').get(port), {
      message: 'x.ini: [SPP] api_port = "eighty": not an integer',
    });
    assert.throws(
      () => read('[spp_server]\nauth_token = s3cret$nope\n').get(token),
      (error: Error) =>
        error.message.includes('[spp_server] auth_token = (secret, not shown): $nope') &&
        !error.message.includes('s3cret'),
    );
    assert.throws(() => read('[spp]\napi_port = $api_port\n').get(port), /refers to itself/);
  });
});
