import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  VHOST_RESOURCE_CLASS,
  parseProviderName,
  physnetTrait,
  providerName,
  providerUuid,
  uuid5,
} from '../../src/placement/names.js';

describe('Placement names', () => {
  it("physnet traits are neutron-lib's physnet_trait()", () => {
    // Vectors from Debian's neutron_lib.placement.utils.physnet_trait().
    assert.equal(physnetTrait('phys-2.a'), 'CUSTOM_PHYSNET_PHYS_2_A');
    assert.equal(physnetTrait('Phys1'), 'CUSTOM_PHYSNET_PHYS1');
    assert.equal(physnetTrait('ph ys__3'), 'CUSTOM_PHYSNET_PH_YS_3');
  });

  it("provider uuids are neutron-lib's device_resource_provider_uuid() in our namespace", () => {
    // Vector from neutron_lib.placement.utils.device_resource_provider_uuid(
    //   UUID('b145ad21-2979-492e-b871-ff231750efe1'), 'compute-1', 'phys1').
    assert.equal(providerUuid('compute-1', 'phys1'), '751054fc-27e3-5892-92c2-5d1c698b0fe2');
  });

  it('uuid5 matches Python for the RFC example and non-ASCII names', () => {
    // uuid.uuid5(uuid.NAMESPACE_DNS, 'python.org') and a UTF-8 name, from Python 3.11.
    assert.equal(
      uuid5('6ba7b810-9dad-11d1-80b4-00c04fd430c8', 'python.org'),
      '886313e1-3b8a-5372-9b90-0c9aee199e5d',
    );
    assert.equal(
      uuid5('b145ad21-2979-492e-b871-ff231750efe1', 'höst.example:phys2'),
      '35fc9733-c16e-5cba-85ce-f87be904b02a',
    );
  });

  it('the resource class is a legal custom class name', () => {
    assert.match(VHOST_RESOURCE_CLASS, /^CUSTOM_[A-Z0-9_]+$/);
  });

  it('provider names follow <compute node>:<agent type>:<physnet> and parse back', () => {
    assert.equal(providerName('compute-1', 'phys1'), 'compute-1:SPP neutron agent:phys1');
    assert.deepEqual(parseProviderName('compute-1:SPP neutron agent:phys1'), {
      computeNode: 'compute-1',
      physnet: 'phys1',
    });
    assert.equal(parseProviderName('compute-1'), undefined);
    assert.equal(parseProviderName('compute-1:Open vSwitch agent:br-ex'), undefined);
    assert.equal(parseProviderName(':SPP neutron agent:phys1'), undefined);
    assert.equal(parseProviderName('compute-1:SPP neutron agent:'), undefined);
  });

  it('names round-trip for any host and physnet without ":"', () => {
    const segment = fc.string({ minLength: 1, maxLength: 20 }).filter((s) => !s.includes(':'));
    fc.assert(
      fc.property(segment, segment, (host, physnet) => {
        assert.deepEqual(parseProviderName(providerName(host, physnet)), {
          computeNode: host,
          physnet,
        });
        const trait = physnetTrait(physnet);
        assert.match(trait, /^CUSTOM_PHYSNET_[A-Z0-9_]*$/);
        assert.match(providerUuid(host, physnet), /^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab]/);
      }),
    );
  });
});
