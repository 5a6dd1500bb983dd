/**
 * Throttling and server errors from DynamoDB, the management API and Lambda, answered on the
 * wire below the SDK's retries (test/support/wire-faults.ts) of the real clients the local gateway's
 * handlers use: the SDK's retry strategy absorbs them, so clients see nothing; past its attempts
 * a Join is answered with an Error frame (never API Gateway's internal-error frame), and nothing
 * is left stuck.
 *
 * The attempts are the SDK's defaults (checked here): DynamoDB 4 (backoff base 25 ms, 1 s for
 * throttling, doubling, full jitter), the management API and Lambda 3. With throttling that is
 * at most 1 + 2 + 4 s of backoff for DynamoDB and 1 + 2 s for the others, within the route
 * functions' 10 s timeout; more attempts would outlast it, so none are configured.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { TestSocket } from '../../testing/socket.js';
import { backends } from '../support/gateway.js';
import { gatewaySuite } from '../support/suite.js';
import { WireFaults } from '../support/wire-faults.js';

describe.each(backends())('SDK retries on $name', (backend) => {
  const wire = new WireFaults();
  const suite = gatewaySuite(backend, { instrumentClient: wire.attach });
  const { name, open, quiet } = suite;
  beforeEach(() => wire.clear());
  afterEach(() => wire.clear());
  const failedInvocations = () => suite.gateway.events.filter((entry) => entry.error !== undefined);

  /**
   * Five peers join one key (20 introductions), and a relay pair exchanges frames held before
   * pairing and sent after, both ways: everything arrives exactly once.
   */
  async function workload() {
    const key = name('doc');
    const ids = ['p0', 'p1', 'p2', 'p3', 'p4'].map(name);
    const peers: TestSocket[] = [];
    for (const id of ids) {
      const peer = await open(`/introduction/${id}`);
      peer.send({ type: 'Join', join: [key] });
      peers.push(peer);
      await quiet(peer);
    }
    await quiet(...peers);
    ids.forEach((id, i) => {
      const got = peers[i]!.unread().map((frame) => JSON.parse(frame) as { id: string });
      expect(got.map((message) => message.id).sort()).toEqual(ids.filter((x) => x !== id).sort());
    });

    const [A, B] = [name('A'), name('B')];
    const a = await open(`/connection/${A}/${B}/${key}`);
    for (const frame of ['h1', 'h2', 'h3']) {
      a.send(frame);
      await quiet(a);
    }
    const b = await open(`/connection/${B}/${A}/${key}`);
    expect(await b.take(3, 15_000)).toEqual(['h1', 'h2', 'h3']);
    for (let i = 1; i <= 3; i++) {
      a.send(`a${i}`);
      expect(await b.next(15_000)).toBe(`a${i}`);
      b.send(`b${i}`);
      expect(await a.next(15_000)).toBe(`b${i}`);
    }
    await quiet(a, b);
    expect(a.unread()).toEqual([]);
    expect(b.unread()).toEqual([]);
  }

  it('uses the SDK’s default attempts: DynamoDB 4, the management API 3, Lambda 3', async () => {
    await workload(); // makes every client, the Lambda one included
    expect(wire.maxAttempts).toEqual({ DynamoDB: 4, ApiGatewayManagementApi: 3, Lambda: 3 });
  });

  it('absorbs DynamoDB throttling and 5xx: clients see nothing', async () => {
    wire.add({
      service: 'DynamoDB',
      every: 4,
      faults: ['throughput exceeded', '500', 'throttled', '503'],
    });
    await workload();
    expect(wire.struck.DynamoDB).toBeGreaterThan(10);
    expect(failedInvocations()).toEqual([]);
  });

  it('absorbs management API 429 and 5xx on posts and closes', async () => {
    wire.add({
      service: 'ApiGatewayManagementApi',
      every: 3,
      faults: ['limit exceeded', '500', '503'],
    });
    await workload();
    expect(wire.struck.ApiGatewayManagementApi).toBeGreaterThan(5);
    expect(failedInvocations()).toEqual([]);
  });

  it('absorbs a throttled invoke of the deliver function', async () => {
    wire.add({ service: 'Lambda', command: 'InvokeCommand', faults: ['throttled'], times: 1 });
    await workload();
    expect(wire.struck.Lambda).toBe(1);
    expect(failedInvocations()).toEqual([]);
  });

  it('absorbs as many failed attempts in a row as each client has retries', async () => {
    // A Join's key-set write (not a $connect's: the handshake would wait out the backoff).
    wire.add({
      service: 'DynamoDB',
      command: 'UpdateItemCommand',
      match: (input) => input.includes('SET #keys = :keys'),
      attempts: 3,
      times: 1,
      faults: ['throttled'],
    });
    wire.add({
      service: 'ApiGatewayManagementApi',
      command: 'PostToConnectionCommand',
      attempts: 2,
      times: 1,
      faults: ['limit exceeded'],
    });
    await workload();
    expect(wire.struck).toEqual({ DynamoDB: 3, ApiGatewayManagementApi: 2, Lambda: 0 });
    expect(failedInvocations()).toEqual([]);
  });

  it('retries a Join whose write fails past the SDK’s last attempt: it works without being sent again', async () => {
    const key = name('doc');
    const p = await open(`/introduction/${name('P')}`);
    const q = await open(`/introduction/${name('Q')}`);
    q.send({ type: 'Join', join: [key] });
    await quiet(q);
    // The key-set write of P's Join fails on all 4 attempts (transient errors: quick backoff).
    wire.add({
      service: 'DynamoDB',
      command: 'UpdateItemCommand',
      match: (input) => input.includes('SET #keys = :keys'),
      attempts: 4,
      times: 1,
      faults: ['500'],
    });
    p.send({ type: 'Join', join: [key] });
    // Retried within the route's budget: no Error frame, nobody waits for a resend.
    expect(await p.nextJson()).toMatchObject({ type: 'Introduction', keys: [key] });
    expect(await q.nextJson()).toMatchObject({ type: 'Introduction', keys: [key] });
    expect(failedInvocations()).toEqual([]);
    await quiet(p, q);
    expect(p.isOpen).toBe(true);
  });
});
