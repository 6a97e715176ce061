/**
 * The start message's traffic check must not hold up a rollout: the port
 * promises serviceRequests answers or fails within its own deadline (one try),
 * so intake adds no timer of its own. Here Monitoring accepts the connection
 * and never answers; without the adapter's deadline this test hangs until
 * jest's timeout fails it.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { createMonitoringMetricsSource } from '../../../functions/adapters/monitoring';
import { localClientOptions } from '../../../functions/shared/endpoint';

let server: Server;
const sockets: Socket[] = [];

beforeAll(async () => {
  server = createServer((socket) => sockets.push(socket)); // accepts, never answers
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
});

afterAll(async () => {
  for (const s of sockets) s.destroy();
  await new Promise((resolve) => server.close(resolve));
});

test('serviceRequests fails with DEADLINE_EXCEEDED, after one try, when Monitoring never answers', async () => {
  const { port } = server.address() as { port: number };
  const metrics = createMonitoringMetricsSource({ clientOptions: localClientOptions(`127.0.0.1:${port}`) });
  try {
    const end = new Date('2026-11-30T08:00:00Z');
    await expect(
      metrics.serviceRequests(
        { project: 'p', region: 'us-central1', service: 'api' },
        { start: new Date(end.getTime() - 3600_000), end },
      ),
    ).rejects.toMatchObject({ code: 'deadline' }); // the adapter's code for DEADLINE_EXCEEDED
    expect(sockets.length).toBe(1); // one try: no retry opened another connection
  } finally {
    await metrics.close();
  }
}, 30_000);
