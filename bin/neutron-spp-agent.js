#!/usr/bin/env node
import { main } from '../dist/src/cli/main.js';

// The agent's own binary name, as the original ships it: same as `networking-spp agent`.
main([process.argv[0], process.argv[1], 'agent', ...process.argv.slice(2)]);
