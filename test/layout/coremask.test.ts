import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatCoreList, parseCoreMask } from '../../src/layout/coremask.js';

describe('core lists', () => {
  it('writes runs of cores as ranges', () => {
    assert.equal(formatCoreList([3, 4, 5, 6, 7, 9]), '3-7,9');
    assert.equal(formatCoreList([9, 3, 4]), '3-4,9');
    assert.equal(formatCoreList([5]), '5');
    assert.equal(formatCoreList([]), '');
    assert.equal(formatCoreList([0, 2, 4, 5]), '0,2,4-5');
  });

  it('round-trips a 128-bit mask with gaps', () => {
    const cores = parseCoreMask('0x8000000000000000000000000000f0f1', 'test');
    assert.equal(formatCoreList(cores), '0,4-7,12-15,127');
  });
});
