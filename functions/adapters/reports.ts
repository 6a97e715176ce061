/**
 * Where finished rollout reports go. On GCP: a private Cloud Storage bucket
 * (terraform/reports.tf: uniform bucket-level access, public access
 * prevention, deleted after 90 days), linked with its authenticated browser
 * URL, https://storage.cloud.google.com/BUCKET/OBJECT, which opens for a
 * signed-in Google account with read access and for no one else
 * (https://cloud.google.com/storage/docs/request-endpoints#cookieauth). On
 * the local cloud: a folder.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { ReportPublisher } from '../ports';
import { fromSdkError } from '../shared/errors';

/** reports/SERVICE/ROLLOUT.html: a service's reports list together, and sort by time (rollout ids do). */
export function reportObjectName(rollout: { id: string; service: string }): string {
  return `reports/${rollout.service}/${rollout.id}.html`;
}

/** The part of @google-cloud/storage's Bucket this adapter uses. */
export interface ReportBucket {
  name: string;
  file(name: string): {
    save(
      data: string,
      options: { resumable: boolean; contentType: string; metadata: { cacheControl: string } },
    ): Promise<void>;
  };
}

export class CloudStorageReportPublisher implements ReportPublisher {
  constructor(private readonly bucket: ReportBucket) {}

  async publish(rollout: { id: string; service: string }, html: string): Promise<{ url: string }> {
    const object = reportObjectName(rollout);
    try {
      await this.bucket.file(object).save(html, {
        resumable: false,
        contentType: 'text/html; charset=utf-8',
        // Never kept by a shared cache: the page is private.
        metadata: { cacheControl: 'private, max-age=0' },
      });
    } catch (err) {
      throw fromSdkError(err, `write report gs://${this.bucket.name}/${object}`);
    }
    return { url: `https://storage.cloud.google.com/${this.bucket.name}/${object}` };
  }
}

export class FolderReportPublisher implements ReportPublisher {
  constructor(private readonly dir: string) {}

  async publish(rollout: { id: string; service: string }, html: string): Promise<{ url: string }> {
    const path = resolve(join(this.dir, reportObjectName(rollout)));
    await mkdir(join(path, '..'), { recursive: true });
    await writeFile(path, html);
    return { url: path };
  }
}
