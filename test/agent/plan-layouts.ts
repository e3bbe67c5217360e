import type { SppCall } from '../../src/agent/plan.js';
import type { CustomLayout } from '../../src/layout/generate.js';
import { planHostLayout } from '../../src/layout/host-layout.js';
import type { ComponentConfig, HostConfig } from '../../src/layout/schema.js';
import type { PortVlan } from '../../src/spp/status.js';

/** Host layouts and expected-call constructors shared by the planner tests. */

/** SYSTEM.md §3.2: NIC 0 with vhosts 0, 1 (workers 2..7), NIC 1 with vhost 2 (workers 9..12). */
export function defaultLayout(mirror?: string): HostConfig {
  return planHostLayout({
    mappings: '00:04.0#phys1#2#0xfe,00:05.0#phys2#1#0x1f00',
    ...(mirror ? { mirror } : {}),
  }).config;
}

/** SPP-SPEC §4.4's host: one NIC, `-c 0xfe`, two vhosts. */
export function specExampleLayout(): HostConfig {
  return planHostLayout({ mappings: '00:04.0#phys1#2#0xfe' }).config;
}

/** SYSTEM.md §3.3 without forwarders: the classifier and merger talk to the vhosts directly. */
export function noForwarderLayout(): HostConfig {
  const layout: CustomLayout = {
    vf: [
      {
        components: [
          {
            core: 2,
            type: 'classifier_mac',
            name: 'classifier',
            rx_port: ['phy:0'],
            tx_port: ['vhost:0', 'vhost:1'],
          },
          {
            core: 3,
            type: 'merge',
            name: 'merger',
            rx_port: ['vhost:0', 'vhost:1'],
            tx_port: ['phy:0'],
          },
        ],
      },
    ],
  };
  return planHostLayout({
    mappings: '00:04.0#phys1#2#0xe',
    custom: { layout, file: 'no-forwarders.yaml' },
  }).config;
}

const maskOf = (from: number, to: number): string => {
  let mask = 0n;
  for (let bit = from; bit < to; bit++) mask |= 1n << BigInt(bit);
  return `0x${mask.toString(16)}`;
};

/**
 * The generated layout (SYSTEM.md §3.2) for `perNic[k]` vhosts on NIC k and `mirrors`
 * mirrors, with consecutive cores: each NIC's master, then its 2n+2 workers; then spp_mirror.
 */
export function generatedLayout(perNic: number[], mirrors = 0): HostConfig {
  let core = 0;
  const mappings = perNic.map((count, nic) => {
    const first = core;
    core += 2 * count + 3;
    return `00:0${4 + nic}.0#phys${nic + 1}#${count}#${maskOf(first, core)}`;
  });
  const mirror = mirrors > 0 ? `${mirrors}#${maskOf(core, core + mirrors + 1)}` : undefined;
  return planHostLayout({ mappings: mappings.join(','), ...(mirror ? { mirror } : {}) }).config;
}

/**
 * A custom layout of `perNic[k]` vhosts on NIC k, vhost ids global; each vhost sits behind
 * forwarders when its flag is set, else it is attached to the classifier and merger
 * directly. Every component gets a core of its own after the NIC's master core.
 */
export function mixedLayout(perNic: boolean[][]): HostConfig {
  let vhost = 0;
  let core = 0;
  const mappings: string[] = [];
  const vf = perNic.map((flags, nic) => {
    const master = core++;
    const components: ComponentConfig[] = [];
    const classifierTx: string[] = [];
    const mergerRx: string[] = [];
    for (const behindForwarders of flags) {
      const port = `vhost:${vhost}`;
      if (behindForwarders) {
        const [toVm, fromVm] = [`ring:${2 * vhost}`, `ring:${2 * vhost + 1}`];
        components.push(
          {
            core: core++,
            type: 'forward',
            name: `fwd_${vhost}_in`,
            rx_port: [toVm],
            tx_port: [port],
          },
          {
            core: core++,
            type: 'forward',
            name: `fwd_${vhost}_out`,
            rx_port: [port],
            tx_port: [fromVm],
          },
        );
        classifierTx.push(toVm);
        mergerRx.push(fromVm);
      } else {
        classifierTx.push(port);
        mergerRx.push(port);
      }
      vhost++;
    }
    const phy = `phy:${nic}`;
    components.push(
      {
        core: core++,
        type: 'classifier_mac',
        name: `cls_${nic}`,
        rx_port: [phy],
        tx_port: classifierTx,
      },
      { core: core++, type: 'merge', name: `mrg_${nic}`, rx_port: mergerRx, tx_port: [phy] },
    );
    mappings.push(`00:0${4 + nic}.0#phys${nic + 1}#${flags.length}#${maskOf(master, core)}`);
    return { components };
  });
  return planHostLayout({
    mappings: mappings.join(','),
    custom: { layout: { vf }, file: 'mixed.yaml' },
  }).config;
}

// ---- expected calls, written out literally in the tests ----------------------------------

export const start = (name: string, core: number, type: string): SppCall => ({
  op: 'start',
  name,
  core,
  type,
});

export const attach = (
  component: string,
  port: string,
  dir: 'rx' | 'tx',
  vlan: PortVlan = { operation: 'none' },
): SppCall => ({ op: 'attach', component, port, dir, vlan });

export const detach = (component: string, port: string, dir: 'rx' | 'tx'): SppCall => ({
  op: 'detach',
  component,
  port,
  dir,
});

export const classify = (
  action: 'add' | 'del',
  mac: string,
  port: string,
  vlanId?: number,
): SppCall => ({
  op: 'classify',
  change: { action, mac, port, ...(vlanId !== undefined ? { vlanId } : {}) },
});
