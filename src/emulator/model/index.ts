export * from './dataplane.js';
export * from './host.js';
export * from './ports.js';
export * from './process.js';
