import assert from 'node:assert/strict';
import net from 'node:net';
import { test } from 'node:test';
import { broker, kafka, partitioner, tmpDir, waitFor } from './helpers.ts';

/**
 * A TCP proxy that lets the first Produce request through to the broker but
 * swallows its response and cuts the client connection, so kafkajs must retry
 * a batch the broker has already appended.
 */
async function lossyProxy(
  target: number,
  t: { after(fn: () => Promise<void>): void },
): Promise<{ port: number; dropped: () => number }> {
  let dropped = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(target, '127.0.0.1');
    sockets.add(client).add(upstream);
    const produceIds = new Set<number>();
    let inBuf = Buffer.alloc(0);
    client.on('data', (d) => {
      inBuf = Buffer.concat([inBuf, d]);
      while (inBuf.length >= 4 && inBuf.length >= 4 + inBuf.readInt32BE(0)) {
        if (inBuf.readInt16BE(4) === 0) produceIds.add(inBuf.readInt32BE(8));
        inBuf = inBuf.subarray(4 + inBuf.readInt32BE(0));
      }
      upstream.write(d);
    });
    let outBuf = Buffer.alloc(0);
    upstream.on('data', (d) => {
      outBuf = Buffer.concat([outBuf, d]);
      while (outBuf.length >= 4 && outBuf.length >= 4 + outBuf.readInt32BE(0)) {
        const frame = outBuf.subarray(0, 4 + outBuf.readInt32BE(0));
        outBuf = outBuf.subarray(frame.length);
        if (produceIds.has(frame.readInt32BE(4)) && dropped === 0) {
          dropped++;
          client.destroy();
          upstream.destroy();
          return;
        }
        client.write(frame);
      }
    });
    const end = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  t.after(async () => {
    for (const s of sockets) s.destroy();
    await new Promise((r) => server.close(r));
  });
  return { port: (server.address() as net.AddressInfo).port, dropped: () => dropped };
}

test('an idempotent producer retrying a batch whose ack was lost does not duplicate it', async (t) => {
  const b = await broker(t, { dataDir: tmpDir(t), numPartitions: 1, advertisedHost: '127.0.0.1' });
  const admin = kafka(b.brokers).admin();
  await admin.connect();
  t.after(() => admin.disconnect());
  await admin.createTopics({ topics: [{ topic: 'idem', numPartitions: 1 }] });

  // Clients reach the broker only through the proxy; metadata still advertises the
  // broker itself, so route by giving kafkajs a socketFactory that always dials the proxy.
  const proxy = await lossyProxy(b.port, t);
  const k = kafka(b.brokers, {
    socketFactory: ({ onConnect }) => net.connect(proxy.port, '127.0.0.1', onConnect),
  });
  const producer = k.producer({ createPartitioner: partitioner, idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  t.after(() => producer.disconnect());
  const [res] = await producer.send({ topic: 'idem', messages: [{ value: 'a' }, { value: 'b' }, { value: 'c' }] });
  assert.equal(proxy.dropped(), 1, 'the first produce response was dropped, forcing a retry');
  assert.equal(res!.baseOffset, '0', 'the retry is answered with the original offset');
  await producer.send({ topic: 'idem', messages: [{ value: 'd' }] });
  const [off] = await admin.fetchTopicOffsets('idem');
  assert.equal(off!.high, '4', 'three messages from the retried batch plus one, no duplicates');

  const c = kafka(b.brokers).consumer({ groupId: 'idem', maxWaitTimeInMs: 500 });
  await c.connect();
  t.after(() => c.disconnect());
  await c.subscribe({ topic: 'idem', fromBeginning: true });
  const got: string[] = [];
  await c.run({ eachMessage: async ({ message }) => void got.push(message.value!.toString()) });
  await waitFor('4 messages', () => got.length >= 4);
  assert.deepEqual(got, ['a', 'b', 'c', 'd']);
});
