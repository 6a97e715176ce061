/**
 * The Cloud Storage report writer with the real @google-cloud/storage client,
 * against a local server that answers the JSON API's upload endpoint as
 * Google documents it (https://cloud.google.com/storage/docs/uploading-objects
 * "multipart upload": POST /upload/storage/v1/b/BUCKET/o?uploadType=multipart,
 * a multipart/related body of the object's metadata then its data; the
 * ifGenerationMatch=0 precondition answers 412 when the object exists,
 * https://cloud.google.com/storage/docs/request-preconditions). What the
 * client sends is what GCS would receive.
 */
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Storage } from '@google-cloud/storage';
import { CloudStorageReportPublisher } from '../../../functions/adapters/reports';

interface Upload {
  method: string;
  path: string;
  query: URLSearchParams;
  metadata: Record<string, unknown>;
  data: string;
}

/** CRC32C (Castagnoli, reflected 0x82F63B78), as GCS reports it in an object's `crc32c`: base64, big-endian. */
function crc32c(data: Buffer): string {
  let crc = 0xffffffff;
  for (const byte of data) {
    crc ^= byte;
    for (let k = 0; k < 8; k++) crc = crc & 1 ? (crc >>> 1) ^ 0x82f63b78 : crc >>> 1;
  }
  const out = Buffer.alloc(4);
  out.writeUInt32BE((crc ^ 0xffffffff) >>> 0);
  return out.toString('base64');
}

/** Splits a multipart/related body into its metadata (JSON) and its data. */
function parseMultipart(
  req: IncomingMessage,
  body: string,
): { metadata: Record<string, unknown>; data: string } {
  const boundary = /boundary="?([^";]+)"?/.exec(String(req.headers['content-type']))?.[1];
  if (!boundary) throw new Error(`expected multipart/related, got ${req.headers['content-type']}`);
  const parts = body
    .split(`--${boundary}`)
    .slice(1, -1)
    .map((p) => p.replace(/^\r\n/, '').replace(/\r\n$/, ''))
    .map((p) => p.slice(p.indexOf('\r\n\r\n') + 4));
  return { metadata: JSON.parse(parts[0]), data: parts[1] };
}

describe('the Cloud Storage report writer with the real client', () => {
  let server: Server;
  let endpoint: string;
  const uploads: Upload[] = [];
  const existing = new Set<string>();
  let refuse: number | undefined;

  beforeAll(async () => {
    server = createServer((req, res) => {
      let body = '';
      req.setEncoding('utf8');
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        const url = new URL(req.url ?? '/', 'http://local');
        const m = /^\/upload\/storage\/v1\/b\/([^/]+)\/o$/.exec(url.pathname);
        const reply = (status: number, json: object) => {
          res.writeHead(status, { 'content-type': 'application/json' });
          res.end(JSON.stringify(json));
        };
        if (req.method !== 'POST' || !m || url.searchParams.get('uploadType') !== 'multipart')
          return reply(404, { error: { code: 404, message: `no route ${req.method} ${url.pathname}` } });
        const { metadata, data } = parseMultipart(req, body);
        uploads.push({ method: req.method, path: url.pathname, query: url.searchParams, metadata, data });
        const name = String(url.searchParams.get('name') ?? metadata.name);
        if (refuse)
          return reply(refuse, { error: { code: refuse, message: 'refused by the test', errors: [] } });
        if (url.searchParams.get('ifGenerationMatch') === '0' && existing.has(name))
          return reply(412, {
            error: { code: 412, message: 'At least one of the pre-conditions you specified did not hold.' },
          });
        existing.add(name);
        // The object resource, with the hashes the client checks its upload against.
        const bytes = Buffer.from(data);
        reply(200, {
          kind: 'storage#object',
          bucket: decodeURIComponent(m[1]),
          name,
          generation: '1',
          size: String(bytes.length),
          md5Hash: createHash('md5').update(bytes).digest('base64'),
          crc32c: crc32c(bytes),
        });
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));
  beforeEach(() => {
    uploads.length = 0;
    refuse = undefined;
  });

  const publisher = () =>
    new CloudStorageReportPublisher(
      new Storage({
        apiEndpoint: endpoint,
        projectId: 'reports-project',
        retryOptions: { autoRetry: false },
      }).bucket('glidepath-reports'),
    );
  const rollout = { id: 'api-0123456789ab-mx36r3ph', service: 'api' };

  it('creates reports/SERVICE/ROLLOUT.html as private HTML, create-only, and links it for signed-in readers', async () => {
    const { url } = await publisher().publish(rollout, '<html>judge</html>');
    expect(url).toBe(`https://storage.cloud.google.com/glidepath-reports/reports/api/${rollout.id}.html`);
    expect(uploads).toHaveLength(1);
    const [u] = uploads;
    expect(u.path).toBe('/upload/storage/v1/b/glidepath-reports/o');
    expect(u.query.get('ifGenerationMatch')).toBe('0');
    expect(u.query.get('name') ?? u.metadata.name).toBe(`reports/api/${rollout.id}.html`);
    expect(u.metadata).toMatchObject({
      contentType: 'text/html; charset=utf-8',
      cacheControl: 'private, max-age=0',
    });
    expect(u.data).toBe('<html>judge</html>');
  });

  it('links the report already there when a retried end writes it again (412), without replacing it', async () => {
    await publisher().publish({ ...rollout, id: 'api-twice' }, 'first');
    const { url } = await publisher().publish({ ...rollout, id: 'api-twice' }, 'second');
    expect(url).toBe('https://storage.cloud.google.com/glidepath-reports/reports/api/api-twice.html');
    expect(uploads.map((u) => u.data)).toEqual(['first', 'second']);
    expect(uploads.every((u) => u.query.get('ifGenerationMatch') === '0')).toBe(true);
  });

  it('turns a refusal into our error, naming the object (the client carries the HTTP status in `code`)', async () => {
    refuse = 403;
    const err = await publisher()
      .publish(rollout, 'x')
      .catch((e: Error & { code?: string }) => e);
    expect(err).toBeInstanceOf(Error);
    expect((err as { code?: string }).code).toBe('permission');
    expect((err as Error).message).toContain(
      `write report gs://glidepath-reports/reports/api/${rollout.id}.html`,
    );
  });
});
