/**
 * The constructs, as the package `cevitxe-signal-serverless` exports them to other CDK apps
 * (aws-cdk-lib and constructs are the app's, as peers; the Lambda functions ship prebundled):
 * see the README's "Use the constructs in your own CDK app".
 */
export * from './edge-front-door.js';
export { FUNCTION_GRANTS, TABLE_ACTIONS, type FunctionGrants } from './grants.js';
export * from './signal-brake.js';
export * from './signal-budget.js';
export * from './signal-caps.js';
export * from './signal-function.js';
export { SIGNAL_METRIC_LABELS, THROTTLED_REQUESTS_METRIC } from './signal-metrics.js';
export * from './signal-monitoring.js';
export * from './signal-server.js';
export * from './signal-stack.js';
