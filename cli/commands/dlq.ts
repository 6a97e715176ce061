/**
 * `glidepath dlq list | show ID | replay ID`: Firestore `deadLetters`.
 * A replay republishes the original payload and attributes to the source
 * topic with `replayOf`, once: a second replay is refused (exit 1).
 */
import type { Command } from 'commander';
import { replayDeadLetter } from '../../functions/usecases/dead-letter';
import { systemClock } from '../../functions/ports';
import type { DeadLetterRecord } from '../../functions/domain/records';
import { UsageError, printJson } from '../io';
import { cloudOptions, operator, withCloud, type CloudOptions } from './jobs';

function line(r: DeadLetterRecord): string {
  const replayed = r.replayed ? `  replayed by ${r.replayedBy} at ${r.replayedAt}` : '';
  return `${r.createdAt}  ${r.id}  ${r.kind}  ${r.source}  ${r.reason}${replayed}`;
}

function decoded(data: string | undefined): string {
  if (data === undefined) return '(no payload)';
  const text = Buffer.from(data, 'base64').toString('utf8');
  try {
    return JSON.stringify(JSON.parse(text), null, 2);
  } catch {
    return text;
  }
}

export function registerDlq(program: Command): void {
  const dlq = program
    .command('dlq')
    .description('dead letters: rejected, undeliverable and failed-job messages');

  cloudOptions(dlq.command('list').description('dead letters not replayed yet, newest first'))
    .option('--all', 'include replayed ones')
    .option('--limit <n>', 'how many', '20')
    .action(async (opts: CloudOptions & { all?: boolean; limit: string }) => {
      const limit = Number(opts.limit);
      if (!Number.isInteger(limit) || limit < 1)
        throw new UsageError(`--limit: expected a positive integer, got ${opts.limit}`);
      const records = await withCloud(opts, ({ deadLetters }) =>
        deadLetters.listDeadLetters({ all: Boolean(opts.all), limit }),
      );
      if (opts.json) return printJson(records);
      if (!records.length) return void process.stdout.write('no dead letters\n');
      for (const r of records) process.stdout.write(line(r) + '\n');
    });

  cloudOptions(
    dlq.command('show <id>').description('one dead letter with its payload and attributes'),
  ).action(async (id: string, opts: CloudOptions) => {
    const record = await withCloud(opts, ({ deadLetters }) => deadLetters.getDeadLetter(id));
    if (!record) throw new UsageError(`dead letter ${id} not found (glidepath dlq list --all)`);
    if (opts.json) return printJson(record);
    const attributes = Object.entries(record.attributes).map(([k, v]) => `  ${k}=${v}`);
    process.stdout.write(
      [
        line(record),
        ...(record.subscription
          ? [`subscription: ${record.subscription}, delivery count: ${record.deliveryCount ?? '?'}`]
          : []),
        'attributes:',
        ...(attributes.length ? attributes : ['  (none)']),
        'payload:',
        decoded(record.data),
        ...(record.details ? ['details:', JSON.stringify(record.details, null, 2)] : []),
      ].join('\n') + '\n',
    );
  });

  cloudOptions(
    dlq.command('replay <id>').description('republish the original message to its source topic (once)'),
  ).action(async (id: string, opts: CloudOptions) => {
    const result = await withCloud(opts, (c) =>
      replayDeadLetter({ store: c.deadLetters, publisher: c.publisher, clock: systemClock }, id, operator()),
    );
    if (opts.json) printJson(result);
    else if (result.kind === 'replayed')
      process.stdout.write(`replayed ${id} to ${result.topic} as message ${result.messageId}\n`);
    if (result.kind === 'refused') {
      if (!opts.json) process.stderr.write(`glidepath: refused: ${result.reason}\n`);
      process.exitCode = 1;
    }
  });
}
