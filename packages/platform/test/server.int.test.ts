// The HTTP shell's time-outs as a slow client meets them: enforced on time, not on Node's 30 s sweep.
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { closeServer, createLogger, createServiceServer, listen } from '@mall/platform';

describe('service HTTP shell', () => {
  const server = createServiceServer({
    logger: createLogger({ service: 'shell-test', level: 'silent' }),
    readiness: {
      broken: async () => {
        throw new Error('connect ECONNREFUSED 10.0.0.7:6379 (driver detail)');
      },
    },
    isStopping: () => false,
    handle: async () => false,
  });
  let port: number;
  before(async () => {
    server.headersTimeout = 1_000;
    ({ port } = await listen(server, 0, '127.0.0.1'));
  });
  after(() => closeServer(server, 100));

  it('cuts a client that trickles its headers soon after the header time-out', async () => {
    const socket = connect(port, '127.0.0.1');
    const started = performance.now();
    socket.write('GET /health/live HTTP/1.1\r\nHost: x\r\n');
    const closedAfter = await new Promise<number>((resolve) => {
      socket.on('error', () => {});
      socket.on('close', () => resolve(performance.now() - started));
      socket.resume();
    });
    assert.ok(closedAfter >= 900 && closedAfter < 2_500, `closed after ${Math.round(closedAfter)} ms`);
  });

  it("reports a failed readiness check in its own words, not the driver's", async () => {
    const res = await fetch(`http://127.0.0.1:${port}/health/ready`);
    assert.equal(res.status, 503);
    assert.deepEqual(await res.json(), { status: 'unavailable', checks: { broken: 'unavailable' } });
  });
});
