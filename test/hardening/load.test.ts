/**
 * `npm run load` (scripts/load.ts), small: every introduction correct, every frame delivered
 * exactly once, the table empty once every socket has closed. Correctness only: no timing is
 * asserted. The full-size run (hundreds of peers, thousands of frames) is `npm run load`.
 */
import { describe, expect, it } from 'vitest';
import { runLoad } from '../../testing/load.js';
import { backends } from '../support/dynamodb.js';
import { seedFrom } from '../../testing/random.js';

const SEED = seedFrom('LOAD_SEED');

describe.each(backends())('npm run load, small, on $name', (backend) => {
  it(`introduces every pair sharing a key and relays every frame exactly once (seed ${SEED})`, async () => {
    const { figures, violations } = await runLoad({
      peers: 24,
      keys: 4,
      pairs: 8,
      frames: 6,
      held: 2,
      seed: SEED,
      timeoutMs: 60_000,
      ...(backend.endpoint ? { dynamoDbEndpoint: backend.endpoint } : {}),
    });
    expect(violations, `seed ${SEED}`).toEqual([]);
    const figure = (name: string) => figures.find(([label]) => label === name)?.[1];
    expect(figure('frames received')).toBe(8 * 2 * 6);
    expect(figure('table items left after closing')).toBe(0);
  });
});
