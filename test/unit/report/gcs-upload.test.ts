/**
 * The Cloud Storage report writer with the real @google-cloud/storage client,
 * against a local server that answers the JSON API's multipart upload as
 * Cloud Storage does (docs/report.md cites the pages): `POST
 * /upload/storage/v1/b/BUCKET/o?uploadType=multipart`, a multipart/related
 * body of the object's JSON metadata then its data, the object resource back;
 * 412 when `ifGenerationMatch=0` and the object exists.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { createHash } from 'node:crypto';
import { CRC32C, Storage } from '@google-cloud/storage';
import { CloudStorageReportPublisher } from '../../../functions/adapters/reports';

interface Upload {
  method: string;
  path: string;
  query: Record<string, string>;
  contentType: string;
  metadata: Record<string, unknown>;
  mediaType: string;
  body: string;
}

let server: Server;
let endpoint: string;
const uploads: Upload[] = [];
const existing = new Set<string>();

function crc32c(data: Buffer): string {
  const crc = new CRC32C();
  crc.update(data);
  return crc.toString();
}

async function bodyOf(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** The two parts of a multipart/related body: headers and content of each. */
function parts(body: string, contentType: string): Array<{ headers: string; content: string }> {
  const boundary = /boundary="?([^";]+)"?/.exec(contentType)![1];
  return body
    .split(`--${boundary}`)
    .slice(1, -1)
    .map((part) => {
      const [headers, ...rest] = part.replace(/^\r\n/, '').split('\r\n\r\n');
      return { headers, content: rest.join('\r\n\r\n').replace(/\r\n$/, '') };
    });
}

beforeAll(async () => {
  server = createServer(async (req, res) => {
    const url = new URL(req.url!, 'http://x');
    const body = await bodyOf(req);
    if (req.method !== 'POST') {
      // Only uploads are expected: anything else (the client deletes an object whose hashes do not match) is seen.
      uploads.push({
        method: req.method!,
        path: url.pathname,
        query: {},
        contentType: '',
        metadata: {},
        mediaType: '',
        body,
      });
      res.statusCode = 404;
      res.end();
      return;
    }
    const contentType = String(req.headers['content-type']);
    const [meta, media] = parts(body, contentType);
    const metadata = JSON.parse(meta.content) as Record<string, unknown>;
    const upload = {
      method: req.method!,
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      contentType: contentType.split(';')[0],
      metadata,
      mediaType: /content-type: *([^\r\n]+)/i.exec(media.headers)?.[1] ?? '',
      body: media.content,
    };
    uploads.push(upload);
    const bucket = /^\/upload\/storage\/v1\/b\/([^/]+)\/o$/.exec(url.pathname)?.[1];
    const name = url.searchParams.get('name');
    const key = `${bucket}/${name}`;
    res.setHeader('content-type', 'application/json');
    if (url.searchParams.get('ifGenerationMatch') === '0' && existing.has(key)) {
      res.statusCode = 412;
      res.end(
        JSON.stringify({
          error: { code: 412, message: 'At least one of the pre-conditions you specified did not hold.' },
        }),
      );
      return;
    }
    existing.add(key);
    // The object resource, with the hashes the client checks its upload against.
    const data = Buffer.from(upload.body);
    res.end(
      JSON.stringify({
        kind: 'storage#object',
        bucket,
        name,
        generation: '1',
        size: String(data.length),
        md5Hash: createHash('md5').update(data).digest('base64'),
        crc32c: crc32c(data),
      }),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  endpoint = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
});

afterAll(() => new Promise((resolve) => server.close(resolve)));

const publisher = () =>
  new CloudStorageReportPublisher(
    new Storage({ apiEndpoint: endpoint, projectId: 'acme' }).bucket('acme-glidepath-reports'),
  );

test('one multipart upload: bucket, object name, content type, cache control, create-only, the page', async () => {
  const rollout = { id: 'shop-abc123-x1', service: 'shop' };
  const html = '<!doctype html><p>shop — rolled back</p>';
  expect(await publisher().publish(rollout, html)).toEqual({
    url: 'https://storage.cloud.google.com/acme-glidepath-reports/reports/shop/shop-abc123-x1.html',
  });
  expect(uploads).toHaveLength(1);
  expect(uploads[0]).toMatchObject({
    method: 'POST',
    path: '/upload/storage/v1/b/acme-glidepath-reports/o',
    query: { uploadType: 'multipart', name: 'reports/shop/shop-abc123-x1.html', ifGenerationMatch: '0' },
    contentType: 'multipart/related',
    metadata: {
      contentType: 'text/html; charset=utf-8',
      cacheControl: 'private, max-age=0',
    },
    mediaType: 'text/html; charset=utf-8',
    body: html,
  });
});

test('a second write of the same report meets 412 and links the one there, without replacing it', async () => {
  const rollout = { id: 'shop-abc123-x2', service: 'shop' };
  await publisher().publish(rollout, 'first');
  uploads.length = 0;
  expect(await publisher().publish(rollout, 'second')).toEqual({
    url: 'https://storage.cloud.google.com/acme-glidepath-reports/reports/shop/shop-abc123-x2.html',
  });
  // Refused once, not retried: Storage does not retry a failed precondition.
  expect(uploads.map((u) => [u.query.name, u.body])).toEqual([
    ['reports/shop/shop-abc123-x2.html', 'second'],
  ]);
});

test('a refusal becomes our permission error naming the object (the client carries the HTTP status in `code`)', async () => {
  // The bucket of a project whose writer lacks roles/storage.objectCreator: 403, as Cloud Storage answers.
  const denied = createServer((req, res) => {
    req.resume();
    res.statusCode = 403;
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ error: { code: 403, message: 'does not have storage.objects.create access' } }));
  });
  await new Promise<void>((resolve) => denied.listen(0, '127.0.0.1', resolve));
  try {
    const port = (denied.address() as { port: number }).port;
    const err = await new CloudStorageReportPublisher(
      new Storage({ apiEndpoint: `http://127.0.0.1:${port}`, projectId: 'acme' }).bucket(
        'acme-glidepath-reports',
      ),
    )
      .publish({ id: 'shop-abc123-x3', service: 'shop' }, 'x')
      .catch((e: Error & { code?: string }) => e);
    expect(err).toMatchObject({
      code: 'permission',
      message: expect.stringContaining(
        'write report gs://acme-glidepath-reports/reports/shop/shop-abc123-x3.html',
      ),
    });
  } finally {
    await new Promise((resolve) => denied.close(resolve));
  }
});
