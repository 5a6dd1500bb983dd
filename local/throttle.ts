/**
 * API Gateway's stage throttle: a token bucket over messages and handshakes
 * (docs.aws.amazon.com/apigateway/latest/developerguide/websocket-api-protect.html). The bucket
 * holds up to `burst` tokens, starts full and refills at `rate` tokens a second; each request
 * takes one token, and a request that finds none is throttled.
 */
export interface ThrottleOptions {
  /** Steady-state requests a second (the stage's ThrottlingRateLimit). */
  readonly rate: number;
  /** The bucket's size (the stage's ThrottlingBurstLimit). */
  readonly burst: number;
}

/** Why `throttle` is not a usable token bucket, or undefined when it is. */
export function throttleProblem(throttle: ThrottleOptions): string | undefined {
  if (!Number.isFinite(throttle.rate) || throttle.rate <= 0)
    return `the throttle rate must be a positive number of requests a second, not ${throttle.rate}`;
  if (!Number.isInteger(throttle.burst) || throttle.burst < 1)
    return `the throttle burst must be a whole number of requests, at least 1, not ${throttle.burst}`;
  return undefined;
}

export interface TokenBucket {
  /** Takes a token if there is one: false means the request is throttled. */
  take(): boolean;
}

export function tokenBucket(
  { rate, burst }: ThrottleOptions,
  clock: () => number = () => performance.now(),
): TokenBucket {
  let tokens = burst;
  let filledAt = clock();
  return {
    take() {
      const now = clock();
      tokens = Math.min(burst, tokens + ((now - filledAt) / 1000) * rate);
      filledAt = now;
      if (tokens < 1) return false;
      tokens -= 1;
      return true;
    },
  };
}
