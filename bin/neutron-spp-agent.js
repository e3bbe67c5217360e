#!/usr/bin/env -S node --max-semi-space-size=1 --v8-pool-size=0 --no-opt
import { main } from '../dist/src/cli/main.js';

// The agent's own binary name, as the original ships it: same as `networking-spp agent`.
main([process.argv[0], process.argv[1], 'agent', ...process.argv.slice(2)]);
