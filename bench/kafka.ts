// Benchmark of the embedded Kafka-protocol broker with real kafkajs clients.
//   node_modules/.bin/node bench/kafka.ts [--in-process] [--messages=200000] [--producers=2]
// By default the broker runs in a child process (its own event loop, as with
// `npm run broker`) and producers in worker threads, in a fresh temp dir, on 127.0.0.1 only. Writes bench/results/kafka.md.
import { fork, type ChildProcess } from 'node:child_process';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Kafka, Partitioners, logLevel, type Producer } from 'kafkajs';
import { startBroker } from '../packages/kafka-broker/src/index.ts';

const args = new Map<string, string>(process.argv.slice(2).map((a): [string, string] => {
  const [k, v] = a.replace(/^--/, '').split('=');
  return [k ?? '', v ?? ''];
}));

if (!isMainThread) {
  // A producer in its own thread: kafkajs spends ~25 µs of CPU per 1 KB record
  // (JS CRC32C, encoder copies), so one client thread cannot saturate the broker.
  const { brokers, total, batch, concurrency } = workerData as { brokers: string; total: number; batch: number; concurrency: number };
  const kafka = new Kafka({ clientId: 'bench-w', brokers: [brokers], logLevel: logLevel.ERROR });
  const p = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner, allowAutoTopicCreation: false });
  await p.connect();
  const value = Buffer.alloc(1024, 'x');
  const lat: number[] = [];
  let sent = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (sent < total) {
        const n = Math.min(batch, total - sent);
        sent += n;
        const messages = Array.from({ length: n }, (_, i) => ({ key: String(i % 64), value }));
        const s = performance.now();
        await p.send({ topic: 'bench', acks: -1, messages });
        lat.push(performance.now() - s);
      }
    }),
  );
  await p.disconnect();
  parentPort!.postMessage(lat);
} else if (args.has('child')) {
  const b = await startBroker({ dataDir: args.get('child') ?? '', port: 0 });
  process.send!({ brokers: b.brokers });
  process.on('message', async (m) => {
    if (m === 'close') {
      await b.close();
      process.exit(0);
    }
  });
} else {
  await main();
}

async function main(): Promise<void> {
  const TOTAL = Number(args.get('messages') ?? 200_000);
  const BATCH = 1000;
  const CONCURRENCY = 2;
  const SIZE = 1024;
  const E2E_RATE = 1000;
  const E2E_SECONDS = Number(args.get('e2e-seconds') ?? 10);
  const inProcess = args.has('in-process');
  const loadBefore = os.loadavg()[0]!.toFixed(2);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kafka-bench-'));

  let brokers: string;
  let child: ChildProcess | undefined;
  let closeInProcess: (() => Promise<void>) | undefined;
  if (inProcess) {
    const b = await startBroker({ dataDir: dir, port: 0 });
    brokers = b.brokers;
    closeInProcess = b.close;
  } else {
    child = fork(fileURLToPath(import.meta.url), [`--child=${dir}`], { stdio: 'inherit' });
    brokers = await new Promise<string>((res, rej) => {
      child!.once('message', (m) => res((m as { brokers: string }).brokers));
      child!.once('exit', (code) => rej(new Error(`broker exited ${code}`)));
    });
  }

  const kafka = new Kafka({ clientId: 'bench', brokers: [brokers], logLevel: logLevel.ERROR });
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic: 'bench', numPartitions: 3 }, { topic: 'bench-e2e', numPartitions: 3 }] });
  await admin.disconnect();

    const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner, allowAutoTopicCreation: false });
  await producer.connect();

  // 1. Produce throughput, acks=-1 (durable: the broker fsyncs before acking).
  const WORKERS = Number(args.get('producers') || 2);
  const t0 = performance.now();
  const perWorker = await Promise.all(
    Array.from({ length: WORKERS }, (_, i) => {
      const w = new Worker(fileURLToPath(import.meta.url), {
        workerData: { brokers, total: Math.floor(TOTAL / WORKERS) + (i === 0 ? TOTAL % WORKERS : 0), batch: BATCH, concurrency: CONCURRENCY },
      });
      return new Promise<number[]>((res, rej) => {
        w.once('message', (lat: number[]) => res(lat));
        w.once('error', rej);
      });
    }),
  );
  const produceSecs = (performance.now() - t0) / 1000;
  const sendLatencies = perWorker.flat();

  // 2. Consume throughput with eachBatch from the beginning.
  const consumer = kafka.consumer({ groupId: 'bench-consume', sessionTimeout: 10_000, heartbeatInterval: 1000, maxBytesPerPartition: 4 * 1024 * 1024, maxBytes: 32 * 1024 * 1024 });
  await consumer.connect();
  await consumer.subscribe({ topic: 'bench', fromBeginning: true });
  let consumed = 0;
  let c0 = 0;
  const consumeSecs = await new Promise<number>((resolve) => {
    void consumer.run({
      autoCommitInterval: 1000,
      eachBatch: async ({ batch }) => {
        if (c0 === 0) c0 = performance.now();
        consumed += batch.messages.length;
        if (consumed >= TOTAL) resolve((performance.now() - c0) / 1000);
      },
    });
  });
  await consumer.disconnect();

  // 3. End-to-end latency at a paced 1,000 msg/s: send() call -> consumer handler.
  const e2e: number[] = [];
  const ackLat: number[] = [];
  const e2eConsumer = kafka.consumer({ groupId: 'bench-e2e', sessionTimeout: 10_000, heartbeatInterval: 1000 });
  await e2eConsumer.connect();
  await e2eConsumer.subscribe({ topic: 'bench-e2e', fromBeginning: true });
  const total = E2E_RATE * E2E_SECONDS;
  let received = 0;
  const allReceived = new Promise<void>((resolve) => {
    void e2eConsumer.run({
      eachMessage: async ({ message }) => {
        e2e.push(performance.now() - Number(message.headers!.t!.toString()));
        if (++received >= total) resolve();
      },
    });
  });
  // Wait for partition assignment before timing anything.
  await new Promise<void>((res) => e2eConsumer.on(e2eConsumer.events.GROUP_JOIN, () => res()));
  const small = Buffer.alloc(SIZE, 'y');
  const start = performance.now();
  let issued = 0;
  const inflight: Promise<unknown>[] = [];
  await new Promise<void>((resolve) => {
    const tick = setInterval(() => {
      const due = Math.min(total, Math.floor(((performance.now() - start) / 1000) * E2E_RATE));
      while (issued < due) {
        issued++;
        const s = performance.now();
        inflight.push(
          producer.send({ topic: 'bench-e2e', acks: -1, messages: [{ key: String(issued), value: small, headers: { t: String(s) } }] }).then(() => ackLat.push(performance.now() - s)),
        );
      }
      if (issued >= total) {
        clearInterval(tick);
        resolve();
      }
    }, 1);
  });
  await Promise.all(inflight);
  await Promise.race([allReceived, new Promise((r) => setTimeout(r, 15_000))]);
  await e2eConsumer.disconnect();
  await producer.disconnect();

  if (child) {
    child.send('close');
    await new Promise((r) => child!.once('exit', r));
  } else await closeInProcess!();
  fs.rmSync(dir, { recursive: true, force: true });

  const pct = (xs: number[], p: number): number => {
    const s = [...xs].sort((a, b) => a - b);
    return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN;
  };
  const f = (x: number): string => x.toFixed(1);
  const rows: Array<[string, string, string]> = [
    [`produce throughput (1 KB, acks=-1, 1000/send, ${WORKERS} producer threads × ${CONCURRENCY} in flight)`, `${Math.round(TOTAL / produceSecs).toLocaleString('en')} msg/s`, '≥ 50,000 msg/s'],
    ['produce send() latency p50 / p99 (1000-msg batch)', `${f(pct(sendLatencies, 50))} / ${f(pct(sendLatencies, 99))} ms`, ''],
    ['consume throughput (eachBatch)', `${Math.round(TOTAL / consumeSecs).toLocaleString('en')} msg/s`, '≥ 50,000 msg/s'],
    [`single-message send() ack latency p50 / p99 @ ${E2E_RATE}/s`, `${f(pct(ackLat, 50))} / ${f(pct(ackLat, 99))} ms`, ''],
    [`end-to-end publish → handler p50 / p99 @ ${E2E_RATE}/s for ${E2E_SECONDS}s`, `${f(pct(e2e, 50))} / ${f(pct(e2e, 99))} ms (${e2e.length}/${total} received)`, 'p99 ≤ 20 ms'],
  ];
  const table = ['| measurement | result | target |', '|---|---|---|', ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');
  const md = `# kafka-broker benchmark

Command: \`node_modules/.bin/node bench/kafka.ts${inProcess ? ' --in-process' : ''}\` — ${TOTAL.toLocaleString('en')} messages of ${SIZE} B, kafkajs 2.2.4, broker ${inProcess ? 'in the same process' : 'in a child process'}, ${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? '?'}), Node ${process.version}, load average before/after ${loadBefore} / ${os.loadavg()[0]!.toFixed(2)} (the machine is shared; numbers under load are pessimistic), ${new Date().toISOString()}.

${table}
`;
  console.log(md);
  fs.mkdirSync(path.join(path.dirname(fileURLToPath(import.meta.url)), 'results'), { recursive: true });
  fs.writeFileSync(path.join(path.dirname(fileURLToPath(import.meta.url)), 'results', 'kafka.md'), md);
}
