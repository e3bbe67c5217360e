import { InputError } from '../util/errors.js';
import { buildHostConfig } from './generate.js';
import type { CustomLayout, CustomLayoutSource } from './generate.js';
import type { MirrorSpec } from './mappings.js';
import { parseMirrorSpec, parseNicMappings } from './mappings.js';
import { pythonJsonDumps } from './pyjson.js';
import type { PyValue } from './pyvalue.js';
import { PyDict, fromPlain, pyJsonDumps } from './pyvalue.js';
import type { HostConfig } from './schema.js';
import { validateHostConfig } from './validate.js';

export interface HostLayoutInput {
  mappings: string;
  mirror?: string;
  custom?: { layout: CustomLayout; file: string };
}

export interface HostLayout {
  config: HostConfig;
  /** The value of `configuration/<host>`, byte for byte what the original's spp-config-build writes. */
  value: string;
  warnings: string[];
}

function replaced(dict: PyValue, key: string, value: PyValue | undefined): PyValue {
  if (value === undefined || !(dict instanceof PyDict)) return dict;
  return new PyDict(dict.entries.map(([k, v]) => [k, k === key ? value : v]));
}

/**
 * The configuration value as the original writes it: Python's json.dumps of the vf entries
 * (mapping fields, then components) and mirrors; a custom layout's components and mirrors
 * as the file gave them (key order, extra keys), since the original copies them verbatim.
 */
export function encodeHostConfig(config: HostConfig, source?: CustomLayoutSource): string {
  if (!source) return pythonJsonDumps(config);
  const vf = config.vf.map((entry, nic) =>
    replaced(fromPlain(entry), 'components', source.components[nic]),
  );
  const top = fromPlain({ ...config, vf: [] });
  const mirror =
    Array.isArray(source.mirror) && source.mirror.length > 0 ? source.mirror : undefined;
  return pyJsonDumps(replaced(replaced(top, 'vf', vf), 'mirror', mirror));
}

/**
 * From the operator's mappings (and optional mirror spec and custom layout file) to a
 * validated host configuration, or an InputError listing every problem found.
 */
export function planHostLayout(input: HostLayoutInput): HostLayout {
  const mappings = parseNicMappings(input.mappings);
  const mirror: MirrorSpec | undefined = input.mirror ? parseMirrorSpec(input.mirror) : undefined;
  const custom = input.custom;
  if (custom) {
    const given = custom.layout.vf.length;
    if (given !== mappings.length) {
      throw new InputError(
        `${custom.file}: vf: has ${given} entr${given === 1 ? 'y' : 'ies'}, but the NIC mappings list ${mappings.length} NIC(s); give one vf entry per NIC, in mapping order`,
      );
    }
    if (custom.layout.mirror?.length && !mirror) {
      throw new InputError(
        `${custom.file}: mirror: the layout defines mirrors, but no mirror spec (<number>#<core mask>) was given for spp_mirror`,
      );
    }
  }
  const config = buildHostConfig(mappings, mirror, custom?.layout);
  const report = validateHostConfig(config, mirror);
  if (report.errors.length > 0) {
    const from = custom ? custom.file : 'generated layout';
    throw new InputError(report.errors.map((error) => `${from}: ${error}`).join('\n'));
  }
  const source = custom?.layout.source;
  return {
    config,
    value: encodeHostConfig(config, source),
    warnings: [...(source?.warnings ?? []), ...report.warnings],
  };
}
