/**
 * The brake: invoked by the stage's traffic alarm (a CloudWatch Lambda alarm action) to throttle
 * the stage near zero and stop `$default` and `$connect`, or by an operator with
 * `{"action":"release"}` (`npm run brake -- release`) to restore what the template deployed.
 */
import { AwsBrakeControls, defaultBrakeClients } from './core/brake-controls.js';
import {
  BRAKE_CONFIG_VARIABLE,
  parseBrakeConfig,
  parseBrakeRequest,
  runBrake,
} from './core/brake.js';
import { createLogger } from './core/log.js';

const config = parseBrakeConfig(process.env[BRAKE_CONFIG_VARIABLE]);
const controls = new AwsBrakeControls(defaultBrakeClients(), config.apiId, config.stageName);
const log = createLogger('info', undefined, { stage: config.stageName, function: 'brake' });

export const handler = async (event: unknown) => {
  const request = parseBrakeRequest(event);
  try {
    const outcome = await runBrake(request, config, controls);
    log.info(`brake ${outcome.action}`, { request: request.kind, detail: outcome.detail });
    return outcome;
  } catch (error) {
    log.error('brake failed', { request: request.kind, error });
    throw error;
  }
};
