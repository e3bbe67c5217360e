/** A Neutron network segment as ML2 hands it to bind_port. */
export interface Segment {
  id: string;
  network_type: string;
  physical_network?: string | null;
  segmentation_id?: number | null;
}

export type BindReason =
  | 'not_spp_host'
  | 'no_segment'
  | 'agent_down'
  | 'spp_unreachable'
  | 'no_free_vhost'
  | 'timeout'
  | 'error';

export interface VifDetails {
  port_filter: false;
  vhostuser_mode: 'server';
  vhostuser_socket: string;
}

export type BindOutcome =
  | {
      bound: true;
      segment_id: string;
      vif_type: 'vhostuser';
      vif_details: VifDetails;
      vhost_id: number;
    }
  | { bound: false; reason: BindReason; detail: string };

export interface BindRequest {
  portId: string;
  /** Lower-case (normalised at the HTTP edge). */
  macAddress: string;
  host: string;
  segments: Segment[];
  /** Neutron's view of the host's SPP agents, when the caller has it. */
  agents?: Array<{ alive: boolean }>;
}

/** The vhost-user socket of a vhost: QEMU owns it (server mode), spp_vf connects to it. */
export function vifDetails(vhostId: number, socketDir = '/tmp'): VifDetails {
  return {
    port_filter: false,
    vhostuser_mode: 'server',
    vhostuser_socket: `${socketDir.replace(/\/+$/, '')}/sock${vhostId}`,
  };
}

export function boundOutcome(segmentId: string, vhostId: number, socketDir?: string): BindOutcome {
  return {
    bound: true,
    segment_id: segmentId,
    vif_type: 'vhostuser',
    vif_details: vifDetails(vhostId, socketDir),
    vhost_id: vhostId,
  };
}
