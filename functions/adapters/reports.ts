/**
 * Where finished rollout reports go. On GCP: a private Cloud Storage bucket
 * (terraform/reports.tf: uniform bucket-level access, public access
 * prevention, deleted after 90 days), linked with its authenticated browser
 * URL, https://storage.cloud.google.com/BUCKET/OBJECT, which opens for a
 * signed-in Google account with read access and for no one else
 * (https://cloud.google.com/storage/docs/request-endpoints#cookieauth). On
 * the local cloud: a folder.
 */
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
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
      options: {
        resumable: boolean;
        contentType: string;
        metadata: { cacheControl: string };
        preconditionOpts: { ifGenerationMatch: number };
      },
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
        // Create only: the writer holds roles/storage.objectCreator, which may not replace an
        // object. A retried complete finds its report there (HTTP 412) and links it.
        preconditionOpts: { ifGenerationMatch: 0 },
      });
    } catch (err) {
      if ((err as { code?: unknown })?.code === 412) return { url: this.urlOf(object) };
      throw fromSdkError(err, `write report gs://${this.bucket.name}/${object}`);
    }
    return { url: this.urlOf(object) };
  }

  private urlOf(object: string): string {
    return `https://storage.cloud.google.com/${this.bucket.name}/${object}`;
  }
}

export class FolderReportPublisher implements ReportPublisher {
  constructor(private readonly dir: string) {}

  async publish(rollout: { id: string; service: string }, html: string): Promise<{ url: string }> {
    const path = resolve(join(this.dir, reportObjectName(rollout)));
    await mkdir(join(path, '..'), { recursive: true });
    // Whole or not at all: a reader polling for the file never sees half a page.
    await writeFile(`${path}.tmp`, html);
    await rename(`${path}.tmp`, path);
    return { url: pathToFileURL(path).href };
  }
}
