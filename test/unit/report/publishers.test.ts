import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import {
  CloudStorageReportPublisher,
  FolderReportPublisher,
  type ReportBucket,
} from '../../../functions/adapters/reports';
import { GlidepathError } from '../../../functions/shared/errors';

const rollout = { id: 'shop-abc123-x1', service: 'shop' };

describe('CloudStorageReportPublisher', () => {
  it('writes reports/SERVICE/ROLLOUT.html as private HTML and links its authenticated URL', async () => {
    const saved: Array<{ name: string; data: string; options: unknown }> = [];
    const bucket: ReportBucket = {
      name: 'acme-glidepath-reports',
      file: (name) => ({ save: async (data, options) => void saved.push({ name, data, options }) }),
    };
    const { url } = await new CloudStorageReportPublisher(bucket).publish(rollout, '<html></html>');
    expect(url).toBe(
      'https://storage.cloud.google.com/acme-glidepath-reports/reports/shop/shop-abc123-x1.html',
    );
    expect(saved).toEqual([
      {
        name: 'reports/shop/shop-abc123-x1.html',
        data: '<html></html>',
        options: {
          resumable: false,
          contentType: 'text/html; charset=utf-8',
          metadata: { cacheControl: 'private, max-age=0' },
          preconditionOpts: { ifGenerationMatch: 0 },
        },
      },
    ]);
  });

  it('links the report a previous attempt wrote (412: the object exists, and the writer may not replace it)', async () => {
    const bucket: ReportBucket = {
      name: 'b',
      file: () => ({
        save: async () => {
          throw Object.assign(new Error('At least one of the pre-conditions you specified did not hold.'), {
            code: 412,
          });
        },
      }),
    };
    expect(await new CloudStorageReportPublisher(bucket).publish(rollout, 'x')).toEqual({
      url: 'https://storage.cloud.google.com/b/reports/shop/shop-abc123-x1.html',
    });
  });

  it('turns a Storage error into our own, naming the object', async () => {
    const bucket: ReportBucket = {
      name: 'b',
      file: () => ({
        save: async () => {
          throw Object.assign(new Error('denied'), {
            code: 7,
            details: 'caller lacks storage.objects.create',
          });
        },
      }),
    };
    const err = await new CloudStorageReportPublisher(bucket).publish(rollout, 'x').catch((e) => e);
    expect(err).toBeInstanceOf(GlidepathError);
    expect(err.message).toBe(
      'write report gs://b/reports/shop/shop-abc123-x1.html: caller lacks storage.objects.create',
    );
  });
});

describe('FolderReportPublisher', () => {
  it('writes the page under the folder and returns its file URL', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'glidepath-reports-'));
    const { url } = await new FolderReportPublisher(dir).publish(rollout, '<p>hi</p>');
    const path = join(dir, 'reports/shop/shop-abc123-x1.html');
    expect(url).toBe(pathToFileURL(path).href);
    expect(readFileSync(path, 'utf8')).toBe('<p>hi</p>');
  });
});
