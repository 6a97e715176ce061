/**
 * `npm run bench -- cloudrun`: throughput of the emulator's front door
 * (routing a 90/10 split) against a bare node:http server measured in the
 * same process, ListTimeSeries latency over an hour of per-minute points, and
 * the time to deploy a revision to Ready. Prints one JSON object.
 */
import { createServer, Agent, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ServicesClient } from '@google-cloud/run';
import type { ClientOptions } from 'google-gax';
import { startCloudRunEmulator } from '../../emulators/cloudrun';
import { createCloudRunTrafficRouter } from '../../functions/adapters/cloudrun';
import { createMonitoringMetricsSource } from '../../functions/adapters/monitoring';
import { localClientOptions } from '../../functions/shared/endpoint';

const CONCURRENCY = 32;
const REQUESTS = 20_000;
const ROUNDS = 3;
const PROJECT = 'bench';
const REGION = 'us-central1';

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** Closed-loop load: CONCURRENCY keep-alive clients, REQUESTS in total; returns requests per second. */
async function throughput(url: string): Promise<number> {
  const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY });
  let remaining = REQUESTS;
  const started = process.hrtime.bigint();
  const worker = async (): Promise<void> => {
    while (remaining-- > 0) {
      await new Promise<void>((resolve, reject) => {
        request(url, { agent }, (res) => {
          res.resume();
          res.on('end', resolve);
        })
          .on('error', reject)
          .end();
      });
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  agent.destroy();
  return REQUESTS / seconds;
}

async function main(): Promise<void> {
  const bare = createServer((req, res) => {
    req.resume();
    const body = JSON.stringify({ revision: 'bare', path: req.url, status: 200, latencyMs: 1 });
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  });
  await new Promise<void>((r) => bare.listen(0, '127.0.0.1', r));
  const bareUrl = `http://127.0.0.1:${(bare.address() as AddressInfo).port}/`;

  const emulator = await startCloudRunEmulator({ simulateLatency: false, readyDelayMs: 300 });
  const clientOptions = localClientOptions(emulator.grpcHost);
  const services = new ServicesClient(clientOptions as ClientOptions);
  const router = createCloudRunTrafficRouter({ clientOptions });
  const metrics = createMonitoringMetricsSource({ clientOptions });
  try {
    const [op] = await services.createService({
      parent: `projects/${PROJECT}/locations/${REGION}`,
      serviceId: 'api',
      // Public: the bench measures routing, not the invoker check.
      service: {
        template: { containers: [{ image: 'us-docker.pkg.dev/bench/apps/api:v1' }] },
        invokerIamDisabled: true,
      },
    });
    const [svc] = await op.promise();
    const stable = svc.latestReadyRevision!.split('/').pop()!;
    const ref = { project: PROJECT, region: REGION, service: 'api' };

    const deployMs: number[] = [];
    for (let i = 1; i <= ROUNDS; i++) {
      const revisionName = `api-bench-${i}`;
      const t = process.hrtime.bigint();
      await router.deployRevision(ref, {
        image: `us-docker.pkg.dev/bench/apps/api:v${i + 1}`,
        revisionName,
        plan: () => [
          { type: 'REVISION', revision: stable, percent: 90 },
          { type: 'REVISION', revision: revisionName, percent: 10, tag: `c${i}` },
        ],
        timeoutMs: 10_000,
      });
      deployMs.push(Number(process.hrtime.bigint() - t) / 1e6);
    }

    await throughput(bareUrl); // warm-up
    await throughput(`${svc.uri}/`);
    const bareRps: number[] = [];
    const routerRps: number[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      bareRps.push(await throughput(bareUrl));
      routerRps.push(await throughput(`${svc.uri}/`));
    }

    // An hour of per-minute points for one revision, 2xx and 5xx, with latencies.
    const hourStart = Math.floor(Date.now() / 60_000) * 60_000 - 3_600_000;
    const labels = {
      project_id: PROJECT,
      service_name: 'hist',
      revision_name: 'hist-00001-abc',
      location: REGION,
      configuration_name: 'hist',
    };
    for (let m = 0; m < 60; m++) {
      const at = hourStart + m * 60_000;
      emulator.metrics.inject({
        revision: labels,
        responseCode: 200,
        atMs: at,
        latenciesMs: Array.from({ length: 50 }, (_, k) => 10 + k * 3),
      });
      emulator.metrics.inject({ revision: labels, responseCode: 503, atMs: at, count: 2 });
    }
    const window = { start: new Date(hourStart), end: new Date(hourStart + 3_600_000), alignmentSeconds: 60 };
    const queryMs: number[] = [];
    for (let i = 0; i < 30; i++) {
      const t = process.hrtime.bigint();
      const o = await metrics.observe({ ...ref, service: 'hist', revision: 'hist-00001-abc' }, window);
      queryMs.push(Number(process.hrtime.bigint() - t) / 1e6);
      if (o.intervals.length !== 60) throw new Error(`expected 60 intervals, got ${o.intervals.length}`);
    }

    const routerMedian = median(routerRps);
    const bareMedian = median(bareRps);
    process.stdout.write(
      JSON.stringify({
        frontDoor: {
          requestsPerSecondMedian: Math.round(routerMedian),
          bareNodeHttpRequestsPerSecondMedian: Math.round(bareMedian),
          ratioToBare: Number((routerMedian / bareMedian).toFixed(3)),
          rounds: ROUNDS,
          requestsPerRound: REQUESTS,
          concurrency: CONCURRENCY,
          split: '90/10',
          target: 2000,
        },
        listTimeSeries: {
          observeMedianMs: Number(median(queryMs).toFixed(2)),
          note: 'MetricsSource.observe = two ListTimeSeries calls (counts by class, latency distribution) over 60 per-minute points',
          queries: queryMs.length,
          targetMs: 50,
        },
        deployToReady: { medianMs: Math.round(median(deployMs)), readyDelayMs: 300, rounds: ROUNDS },
      }) + '\n',
    );
  } finally {
    await router.close();
    await metrics.close();
    await services.close();
    await emulator.stop();
    await new Promise((r) => bare.close(r));
  }
}

main().catch((err) => {
  process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
