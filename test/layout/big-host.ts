/**
 * A host too big for one etcd transaction at default limits: `nics` NICs with `vhosts`
 * vhosts each, in a forwarder-less custom layout (classifier and merger only, so that
 * 8 × 16 vhosts fit in DPDK's 128 lcores). NIC k: master core 3k+1, workers 3k+2, 3k+3.
 */
export function bigHost(
  nics: number,
  vhosts: number,
  physnetPrefix = 'phys',
): { mappings: string; yaml: string } {
  const mappings: string[] = [];
  const vf: string[] = [];
  for (let nic = 0; nic < nics; nic++) {
    const mask = (7n << BigInt(3 * nic + 1)).toString(16);
    const pci = `00:${(nic + 4).toString(16).padStart(2, '0')}.0`;
    mappings.push(`${pci}#${physnetPrefix}${nic}#${vhosts}#0x${mask}`);
    const ports = Array.from({ length: vhosts }, (_, v) => `vhost:${nic * vhosts + v}`).join(', ');
    vf.push(
      [
        '  - components:',
        `      - {core: ${3 * nic + 2}, type: classifier_mac, name: classifier, rx_port: [phy:${nic}], tx_port: [${ports}]}`,
        `      - {core: ${3 * nic + 3}, type: merge, name: merger, rx_port: [${ports}], tx_port: [phy:${nic}]}`,
      ].join('\n'),
    );
  }
  return { mappings: mappings.join(','), yaml: `vf:\n${vf.join('\n')}\n` };
}
