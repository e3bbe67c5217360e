import type { Agent } from 'undici';
import type { ComponentConfig } from '../../src/layout/schema.js';
import { call, expectNoContent } from './http.js';

/**
 * The spp-ctl calls networking-spp's agent makes (SPP-SPEC §9.1), written from the spec for
 * tests that need SPP wired the way the agent wires it. Every call must answer 204.
 */
export class AgentCalls {
  constructor(
    private readonly base: string,
    private readonly dispatcher?: Agent,
  ) {}

  private async expect204(method: string, path: string, json: unknown): Promise<void> {
    const reply = await call(this.base, method, path, {
      json,
      ...(this.dispatcher ? { dispatcher: this.dispatcher } : {}),
    });
    expectNoContent(reply, `${method} ${path} ${JSON.stringify(json)}`);
  }

  /**
   * build_vhosts + build_components for a fresh process: a `forward` whose tx is a vhost is
   * created as `merge`; each component is started, then its tx ports, then its rx ports are
   * attached in config order. `classifierType` is `classifier` against 19.11.
   */
  async buildComponents(
    clientId: number,
    components: ComponentConfig[],
    classifierType = 'classifier_mac',
  ): Promise<void> {
    for (const component of components) {
      const toVhost = component.tx_port.some((port) => port.startsWith('vhost:'));
      let type: string = component.type === 'forward' && toVhost ? 'merge' : component.type;
      if (type === 'classifier_mac') type = classifierType;
      await this.expect204('POST', `/v1/vfs/${clientId}/components`, {
        name: component.name,
        core: component.core,
        type,
      });
      for (const port of component.tx_port) await this.attach(clientId, component.name, port, 'tx');
      for (const port of component.rx_port) await this.attach(clientId, component.name, port, 'rx');
    }
  }

  async startMirror(clientId: number, name: string, core: number): Promise<void> {
    await this.expect204('POST', `/v1/mirrors/${clientId}/components`, {
      name,
      core,
      type: 'mirror',
    });
  }

  async attach(
    clientId: number,
    component: string,
    port: string,
    dir: 'rx' | 'tx',
    vlan?: unknown,
    kind: 'vfs' | 'mirrors' = 'vfs',
  ): Promise<void> {
    await this.expect204('PUT', `/v1/${kind}/${clientId}/components/${component}/ports`, {
      action: 'attach',
      port,
      dir,
      ...(vlan !== undefined ? { vlan } : {}),
    });
  }

  async detach(
    clientId: number,
    component: string,
    port: string,
    dir: 'rx' | 'tx',
    kind: 'vfs' | 'mirrors' = 'vfs',
  ): Promise<void> {
    await this.expect204('PUT', `/v1/${kind}/${clientId}/components/${component}/ports`, {
      action: 'detach',
      port,
      dir,
    });
  }

  /** Plug on a flat segment: one classifier_table entry on the classifier-side port. */
  async plugFlat(clientId: number, mac: string, classifierPort: string): Promise<void> {
    await this.expect204('PUT', `/v1/vfs/${clientId}/classifier_table`, {
      action: 'add',
      type: 'mac',
      mac_address: mac,
      port: classifierPort,
    });
  }

  /** Plug on a VLAN segment: re-attach both ports with their VLAN ops, then the entry. */
  async plugVlan(
    clientId: number,
    vid: number,
    mac: string,
    classifierPort: string,
    mergerPort: string,
    names = { classifier: 'classifier', merger: 'merger' },
  ): Promise<void> {
    await this.detach(clientId, names.merger, mergerPort, 'rx');
    await this.attach(clientId, names.merger, mergerPort, 'rx', {
      operation: 'add',
      id: vid,
      pcp: 0,
    });
    await this.detach(clientId, names.classifier, classifierPort, 'tx');
    await this.attach(clientId, names.classifier, classifierPort, 'tx', { operation: 'del' });
    await this.expect204('PUT', `/v1/vfs/${clientId}/classifier_table`, {
      action: 'add',
      type: 'vlan',
      mac_address: mac,
      port: classifierPort,
      vlan: vid,
    });
  }
}
