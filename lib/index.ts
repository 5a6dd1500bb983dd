export * from './edge-front-door.js';
export * from './signal-brake.js';
export * from './signal-budget.js';
export * from './signal-caps.js';
export * from './signal-function.js';
export * from './signal-monitoring.js';
export * from './signal-server.js';
export * from './signal-stack.js';
