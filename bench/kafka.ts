// Benchmark of the embedded Kafka-protocol broker with real kafkajs clients.
//   node_modules/.bin/node bench/kafka.ts [--in-process] [--messages=200000] [--producers=2]
//     [--batch=1000] [--inflight=2] [--e2e-seconds=10] [--only=throughput|e2e]
//     [--visibility=written|durable]   (broker option; default: the broker's default)
// --only runs print but do not overwrite bench/results/kafka.md. BENCH_DEBUG=1
// adds per-second e2e percentiles and the e2e consumer's kafkajs request timings.
// By default the broker runs in a child process (its own event loop, as with
// `npm run broker`) and producers in worker threads, in a fresh temp dir, on 127.0.0.1 only. Writes bench/results/kafka.md.
import { type ChildProcess, fork } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { Kafka, logLevel, Partitioners } from 'kafkajs';
import { DEFAULT_VISIBILITY, startBroker, type Visibility } from '../packages/kafka-broker/src/index.ts';

const args = new Map<string, string>(
  process.argv.slice(2).map((a): [string, string] => {
    const [k, v] = a.replace(/^--/, '').split('=');
    return [k ?? '', v ?? ''];
  }),
);

function visibilityArg(): Visibility {
  const v = args.get('visibility') ?? DEFAULT_VISIBILITY;
  if (v !== 'written' && v !== 'durable') throw new Error(`--visibility must be written or durable, got ${v}`);
  return v;
}

if (!isMainThread) {
  // A producer in its own thread: kafkajs spends ~25 µs of CPU per 1 KB record
  // (JS CRC32C, encoder copies), so one client thread cannot saturate the broker.
  const { brokers, total, batch, concurrency } = workerData as {
    brokers: string;
    total: number;
    batch: number;
    concurrency: number;
  };
  const kafka = new Kafka({ clientId: 'bench-w', brokers: [brokers], logLevel: logLevel.ERROR });
  const p = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner, allowAutoTopicCreation: false });
  await p.connect();
  // Everyone starts together once connected: the clock measures producing, not loading kafkajs.
  parentPort!.postMessage('ready');
  await new Promise((r) => parentPort!.once('message', r));
  const cpuStart = process.threadCpuUsage();
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
  // Thread CPU, not wall time: the machine is shared, so this is the load-independent cost.
  const cpu = process.threadCpuUsage(cpuStart);
  parentPort!.postMessage({ lat, cpuUs: cpu.user + cpu.system });
} else if (args.has('child')) {
  const b = await startBroker({ dataDir: args.get('child') ?? '', port: 0, visibility: visibilityArg() });
  process.send!({ brokers: b.brokers });
  process.on('message', async (m) => {
    if (m === 'cpu') {
      const c = process.cpuUsage();
      process.send!({ cpuUs: c.user + c.system });
    }
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
  const BATCH = Number(args.get('batch') ?? 1000);
  const CONCURRENCY = Number(args.get('inflight') ?? 2);
  const WORKERS = Number(args.get('producers') || 2);
  const only = args.get('only');
  const SIZE = 1024;
  const E2E_RATE = 1000;
  const E2E_SECONDS = Number(args.get('e2e-seconds') ?? 10);
  const inProcess = args.has('in-process');
  const loadBefore = os
    .loadavg()
    .map((x) => x.toFixed(2))
    .join(' ');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kafka-bench-'));

  let brokers: string;
  let child: ChildProcess | undefined;
  let closeInProcess: (() => Promise<void>) | undefined;
  if (inProcess) {
    const b = await startBroker({ dataDir: dir, port: 0, visibility: visibilityArg() });
    brokers = b.brokers;
    closeInProcess = b.close;
  } else {
    child = fork(
      fileURLToPath(import.meta.url),
      [`--child=${dir}`, ...(args.has('visibility') ? [`--visibility=${args.get('visibility')}`] : [])],
      { stdio: 'inherit' },
    );
    brokers = await new Promise<string>((res, rej) => {
      child!.once('message', (m) => res((m as { brokers: string }).brokers));
      child!.once('exit', (code) => rej(new Error(`broker exited ${code}`)));
    });
  }

  const kafka = new Kafka({ clientId: 'bench', brokers: [brokers], logLevel: logLevel.ERROR });
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({
    topics: [
      { topic: 'bench', numPartitions: 3 },
      { topic: 'bench-e2e', numPartitions: 3 },
    ],
  });
  await admin.disconnect();

  const pct = (xs: number[], p: number): number => {
    const s = [...xs].sort((a, b) => a - b);
    return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN;
  };
  const f = (x: number): string => x.toFixed(1);
  const rows: Array<[string, string, string]> = [];

  if (only !== 'e2e') {
    const brokerCpu = async (): Promise<number> => {
      if (!child) return NaN;
      const reply = new Promise<number>((res) => child!.once('message', (m) => res((m as { cpuUs: number }).cpuUs)));
      child.send('cpu');
      return reply;
    };
    // 1. Produce throughput, acks=-1 (durable: the broker fsyncs before acking).
    const workers = Array.from(
      { length: WORKERS },
      (_, i) =>
        new Worker(fileURLToPath(import.meta.url), {
          workerData: {
            brokers,
            total: Math.floor(TOTAL / WORKERS) + (i === 0 ? TOTAL % WORKERS : 0),
            batch: BATCH,
            concurrency: CONCURRENCY,
          },
        }),
    );
    const next = <T>(w: Worker): Promise<T> =>
      new Promise<T>((res, rej) => {
        w.once('message', res);
        w.once('error', rej);
      });
    await Promise.all(workers.map((w) => next<'ready'>(w)));
    const done = workers.map((w) => next<{ lat: number[]; cpuUs: number }>(w));
    const cpu0 = await brokerCpu();
    const t0 = performance.now();
    for (const w of workers) w.postMessage('go');
    const perWorker = await Promise.all(done);
    const produceSecs = (performance.now() - t0) / 1000;
    const brokerUsPerMsg = ((await brokerCpu()) - cpu0) / TOTAL;
    const clientUsPerMsg = perWorker.reduce((n, w) => n + w.cpuUs, 0) / TOTAL;
    const sendLatencies = perWorker.flatMap((w) => w.lat);

    // 2. Consume throughput with eachBatch from the beginning.
    const consumer = kafka.consumer({
      groupId: 'bench-consume',
      sessionTimeout: 10_000,
      heartbeatInterval: 1000,
      maxBytesPerPartition: 4 * 1024 * 1024,
      maxBytes: 32 * 1024 * 1024,
    });
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
    rows.push(
      [
        `produce throughput (1 KB values, acks=-1, ${BATCH} msgs/send, ${WORKERS} producer worker threads × ${CONCURRENCY} sends in flight, 3 partitions, no compression; clock starts once all producers are connected)`,
        `${Math.round(TOTAL / produceSecs).toLocaleString('en')} msg/s`,
        '≥ 50,000 msg/s',
      ],
      [
        `produce send() latency p50 / p99 (${BATCH}-msg send)`,
        `${f(pct(sendLatencies, 50))} / ${f(pct(sendLatencies, 99))} ms`,
        '',
      ],
      [
        'produce CPU per message: kafkajs producer threads / broker process',
        `${f(clientUsPerMsg)} / ${f(brokerUsPerMsg)} µs → ${Math.round((os.cpus().length * 1e6) / (clientUsPerMsg + brokerUsPerMsg)).toLocaleString('en')} msg/s if ${os.cpus().length} idle cores were all ours`,
        '',
      ],
      [
        'consume throughput (one consumer, eachBatch, maxBytes 32 MiB, 4 MiB/partition)',
        `${Math.round(TOTAL / consumeSecs).toLocaleString('en')} msg/s`,
        '≥ 50,000 msg/s',
      ],
    );
  }

  if (only !== 'throughput') {
    // 3. End-to-end latency at a paced 1,000 msg/s: send() call -> consumer handler,
    // one message per send() every millisecond (no client-side batching to hide behind).
    const producer = kafka.producer({
      createPartitioner: Partitioners.DefaultPartitioner,
      allowAutoTopicCreation: false,
    });
    await producer.connect();
    const e2e: number[] = [];
    const ackLat: number[] = [];
    const e2eAt: number[] = [];
    // kafkajs defaults (eachMessage, autoCommit after every batch, maxWaitTimeInMs 5000, minBytes 1)
    // except partitionsConsumedConcurrently = 3 (one per partition), so the
    // per-batch offset commits of one fetch go out together and share the
    // broker's fsync instead of queueing one behind another.
    const e2eConsumer = kafka.consumer({ groupId: 'bench-e2e', sessionTimeout: 10_000, heartbeatInterval: 1000 });
    await e2eConsumer.connect();
    await e2eConsumer.subscribe({ topic: 'bench-e2e', fromBeginning: true });
    const reqStats = new Map<string, number[]>();
    if (process.env.BENCH_DEBUG)
      e2eConsumer.on(e2eConsumer.events.REQUEST, (e) => {
        const k = e.payload.apiName;
        if (!reqStats.has(k)) reqStats.set(k, []);
        reqStats.get(k)!.push(e.payload.duration);
      });
    const total = E2E_RATE * E2E_SECONDS;
    let received = 0;
    let warmReceived = 0;
    let warmDone!: () => void;
    const warmedUp = new Promise<void>((r) => (warmDone = r));
    const joined = new Promise<void>((res) => e2eConsumer.on(e2eConsumer.events.GROUP_JOIN, () => res()));
    const allReceived = new Promise<void>((resolve) => {
      void e2eConsumer.run({
        partitionsConsumedConcurrently: 3,
        eachMessage: async ({ message }) => {
          if (message.headers?.warmup) {
            if (++warmReceived >= E2E_RATE) warmDone();
            return;
          }
          const sentAt = Number(message.headers!.t!.toString());
          e2e.push(performance.now() - sentAt);
          e2eAt.push(sentAt);
          if (++received >= total) resolve();
        },
      });
    });
    // Time the steady state: after the assignment, one untimed second of the
    // same paced traffic (JIT warm-up in client and broker, first ListOffsets
    // and commits), fully received, before the timed run.
    await joined;
    const small = Buffer.alloc(SIZE, 'y');
    const inflight: Promise<unknown>[] = [];
    const paced = (count: number, warmup: boolean): Promise<number> =>
      new Promise<number>((resolve) => {
        const start = performance.now();
        let issued = 0;
        const tick = setInterval(() => {
          const due = Math.min(count, Math.floor(((performance.now() - start) / 1000) * E2E_RATE));
          while (issued < due) {
            issued++;
            const s = performance.now();
            const headers: Record<string, string> = warmup ? { warmup: '1' } : { t: String(s) };
            const sent = producer.send({
              topic: 'bench-e2e',
              acks: -1,
              messages: [{ key: String(issued), value: small, headers }],
            });
            inflight.push(warmup ? sent : sent.then(() => ackLat.push(performance.now() - s)));
          }
          if (issued >= count) {
            clearInterval(tick);
            resolve(start);
          }
        }, 1);
      });
    await paced(E2E_RATE, true);
    await Promise.race([warmedUp, new Promise((r) => setTimeout(r, 15_000))]);
    const loopDelay = monitorEventLoopDelay({ resolution: 1 });
    loopDelay.enable();
    const start = await paced(total, false);
    await Promise.all(inflight);
    await Promise.race([allReceived, new Promise((r) => setTimeout(r, 15_000))]);
    loopDelay.disable();
    await e2eConsumer.disconnect();
    await producer.disconnect();
    if (process.env.BENCH_DEBUG) {
      for (const [k, xs] of reqStats) console.log(`${k}: n=${xs.length} p50=${f(pct(xs, 50))} p99=${f(pct(xs, 99))}`);
      // Stalls of the bench process itself (GC, CPU) delay send() and eachMessage alike.
      console.log(
        `bench event-loop delay during the timed run: p99=${f(loopDelay.percentile(99) / 1e6)} max=${f(loopDelay.max / 1e6)} ms`,
      );
      for (let sec = 0; sec < E2E_SECONDS; sec++) {
        const xs = e2e.filter((_, i) => e2eAt[i]! - start >= sec * 1000 && e2eAt[i]! - start < (sec + 1) * 1000);
        console.log(`second ${sec}: n=${xs.length} p50=${f(pct(xs, 50))} p99=${f(pct(xs, 99))} max=${f(pct(xs, 100))}`);
      }
    }
    rows.push(
      [
        `single-message send() ack latency p50 / p99 @ ${E2E_RATE}/s`,
        `${f(pct(ackLat, 50))} / ${f(pct(ackLat, 99))} ms`,
        '',
      ],
      [
        `end-to-end send() → eachMessage p50 / p99 @ ${E2E_RATE} msg/s (1 msg per send, every 1 ms; consumer partitionsConsumedConcurrently 3; after 1 s of untimed warm-up at the same pace) for ${E2E_SECONDS} s`,
        `${f(pct(e2e, 50))} / ${f(pct(e2e, 99))} ms (${e2e.length}/${total} received)`,
        'p99 ≤ 20 ms',
      ],
    );
  }

  if (child) {
    child.send('close');
    await new Promise((r) => child!.once('exit', r));
  } else await closeInProcess!();
  fs.rmSync(dir, { recursive: true, force: true });

  const argv = process.argv.slice(2).filter((a) => !a.startsWith('--child'));
  const table = ['| measurement | result | target |', '|---|---|---|', ...rows.map((r) => `| ${r.join(' | ')} |`)].join(
    '\n',
  );
  const md = `# kafka-broker benchmark

Command: \`node_modules/.bin/node bench/kafka.ts${argv.length ? ` ${argv.join(' ')}` : ''}\` — ${TOTAL.toLocaleString('en')} messages of ${SIZE} B, kafkajs 2.2.4, broker ${inProcess ? 'in the same process' : 'in a child process'} (visibility '${visibilityArg()}'), 127.0.0.1, ${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? '?'}), Node ${process.version}, load average (1/5/15 min) before ${loadBefore}, after ${os
    .loadavg()
    .map((x) => x.toFixed(2))
    .join(' ')}, ${new Date().toISOString()}.

${table}
`;
  console.log(md);
  if (only) return; // partial runs are for iterating, not the record
  const out = path.join(path.dirname(fileURLToPath(import.meta.url)), 'results', 'kafka.md');
  fs.mkdirSync(path.dirname(out), { recursive: true });
  // The hand-written notes (history, configuration rationale) survive re-runs.
  const prev = fs.existsSync(out) ? fs.readFileSync(out, 'utf8') : '';
  const notes = prev.indexOf('\n## Notes');
  fs.writeFileSync(out, notes >= 0 ? md + prev.slice(notes) : md);
}
