import { InputError } from '../util/errors.js';
import { buildHostConfig } from './generate.js';
import type { CustomLayout } from './generate.js';
import type { MirrorSpec } from './mappings.js';
import { parseMirrorSpec, parseNicMappings } from './mappings.js';
import type { HostConfig } from './schema.js';
import { validateHostConfig } from './validate.js';

export interface HostLayoutInput {
  mappings: string;
  mirror?: string;
  custom?: { layout: CustomLayout; file: string };
}

export interface HostLayout {
  config: HostConfig;
  warnings: string[];
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
    if (custom.layout.mirror && !mirror) {
      throw new InputError(
        `${custom.file}: mirror: the layout defines mirrors, but no mirror spec (<number>#<core mask>) was given for spp_mirror`,
      );
    }
  }
  const config = buildHostConfig(mappings, mirror, custom?.layout);
  const report = validateHostConfig(config, mirror);
  if (report.errors.length > 0) {
    const source = custom ? custom.file : 'generated layout';
    throw new InputError(report.errors.map((error) => `${source}: ${error}`).join('\n'));
  }
  return { config, warnings: report.warnings };
}
