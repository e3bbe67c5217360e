import type { ComponentConfig, HostConfig, MirrorConfig } from '../layout/schema.js';
import { parsePort } from '../layout/schema.js';
import type { VhostWiring } from '../layout/wiring.js';
import { deriveWiring } from '../layout/wiring.js';

/** SPP's two REST dialects (SPP-SPEC §8): the classifier's type name differs. */
export type Dialect = '18.08' | '19.11';

/** One spp_vf process of the host, as the agent drives it. */
export interface VfPlan {
  /** spp_vf client id: position in `vf[]` plus one. */
  clientId: number;
  physnet: string;
  /** Components in config order, with the types the agent creates them as. */
  components: ComponentConfig[];
  wirings: Map<number, VhostWiring>;
}

/** Where one vhost lives: its spp_vf, physnet and wiring. */
export interface VhostPlace {
  vf: VfPlan;
  physnet: string;
  wiring: VhostWiring;
}

/** The host's layout, indexed for the reconciler. Pure data derived from `configuration/<host>`. */
export interface AgentLayout {
  vfs: VfPlan[];
  vhosts: Map<number, VhostPlace>;
  /** spp_mirror client id (N+1) and its mirrors, when the layout has mirrors. */
  mirror?: { clientId: number; mirrors: MirrorConfig[] };
  /** Layout defects that make some vhosts unusable (named, for the log). */
  problems: string[];
}

/**
 * The original agent creates every `forward` component whose tx port is a vhost as a
 * `merge`, so that tap-as-a-service can give it a second rx ring (SPP-SPEC §9.1 step 2).
 */
function agentComponentType(component: ComponentConfig): ComponentConfig['type'] {
  const feedsVhost = component.tx_port.some((port) => parsePort(port)?.kind === 'vhost');
  return component.type === 'forward' && feedsVhost ? 'merge' : component.type;
}

export function indexLayout(config: HostConfig): AgentLayout {
  const vhosts = new Map<number, VhostPlace>();
  const problems: string[] = [];
  const vfs = config.vf.map((vf, index): VfPlan => {
    const { wirings, problems: wiringProblems } = deriveWiring(vf.components);
    problems.push(...wiringProblems.map((problem) => `vf[${index}]: ${problem}`));
    return {
      clientId: index + 1,
      physnet: vf.physical_network,
      components: vf.components.map((component) => ({
        ...component,
        type: agentComponentType(component),
      })),
      wirings,
    };
  });
  for (const vf of vfs) {
    for (const [vhostId, wiring] of vf.wirings) {
      if (vhosts.has(vhostId)) {
        problems.push(
          `vhost:${vhostId} appears in more than one spp_vf; ignored in vf ${vf.clientId}`,
        );
        continue;
      }
      vhosts.set(vhostId, { vf, physnet: vf.physnet, wiring });
    }
  }
  const layout: AgentLayout = { vfs, vhosts, problems };
  if (config.mirror && config.mirror.length > 0) {
    layout.mirror = { clientId: vfs.length + 1, mirrors: config.mirror };
  }
  return layout;
}

/** The type name spp-ctl expects for a component type of the layout. */
export function sppComponentType(type: ComponentConfig['type'], dialect: Dialect): string {
  return type === 'classifier_mac' && dialect === '19.11' ? 'classifier' : type;
}

/** Physnet → vhost ids served, for the liveness record and the Neutron heartbeat. */
export function physnetVhosts(layout: AgentLayout): Record<string, { vhosts: number[] }> {
  const result: Record<string, { vhosts: number[] }> = {};
  for (const [vhostId, place] of layout.vhosts) {
    (result[place.physnet] ??= { vhosts: [] }).vhosts.push(vhostId);
  }
  for (const entry of Object.values(result)) entry.vhosts.sort((a, b) => a - b);
  return result;
}
