/**
 * `glidepath report ROLLOUT [--out FILE]`: the rollout's report, one
 * self-contained HTML page (functions/report/), from Firestore alone. Without
 * --out it goes to ./ROLLOUT.html; the path is printed (JSON with --json).
 */
import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { Firestore } from '@google-cloud/firestore';
import { FirestoreReportSource } from '../../functions/adapters/report-source';
import { buildReport } from '../../functions/usecases/report';
import { GlidepathError } from '../../functions/shared/errors';
import { UsageError, printJson } from '../io';
import { cloudOptions, type CloudOptions } from './jobs';

export function registerReport(program: Command): void {
  cloudOptions(
    program
      .command('report <rollout>')
      .description('write the rollout’s HTML report: what the judge saw, per region, on one time axis'),
  )
    .option('--out <file>', 'where to write it (default: ./ROLLOUT.html)')
    .action(async (id: string, opts: CloudOptions & { out?: string }) => {
      if (!opts.project) throw new UsageError('--project: expected a project id (or set GLIDEPATH_PROJECT)');
      const db = new Firestore({ projectId: opts.project, ignoreUndefinedProperties: true });
      let report;
      try {
        report = await buildReport(new FirestoreReportSource(db), id, new Date());
      } catch (err) {
        if (err instanceof GlidepathError && err.code === 'not_found')
          throw new UsageError(`${id}: no rollout of that id in ${opts.project}`);
        throw err;
      } finally {
        await db.terminate();
      }
      const path = resolve(opts.out ?? `${id}.html`);
      try {
        writeFileSync(path, report.html);
      } catch (e) {
        throw new UsageError(
          `--out ${path}: cannot write (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`,
        );
      }
      if (opts.json) return printJson({ rollout: id, path, bytes: Buffer.byteLength(report.html) });
      process.stdout.write(`${path}\n`);
    });
}
