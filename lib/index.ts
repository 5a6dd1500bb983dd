export * from './signal-function.js';
export * from './signal-server.js';
export * from './signal-stack.js';
