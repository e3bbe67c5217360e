#!/usr/bin/env -S node --max-semi-space-size=1 --v8-pool-size=0
import { agentMain } from '../dist/src/cli/agent-main.js';

// The agent's own binary name, as the original ships it: same as `networking-spp agent`.
agentMain(process.argv.slice(2));
