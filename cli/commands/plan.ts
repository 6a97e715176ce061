/**
 * `glidepath plan`: the dry run of intake. It judges one Pub/Sub message
 * against a policy exactly as the deployed function would, and prints the
 * outcome and the plans, without touching any cloud service.
 */
import type { Command } from 'commander';
import { decideIntake } from '../../functions/domain/intake';
import { PubsubMessage, topicOf } from '../../functions/domain/messages';
import { buildPlan, rolloutId } from '../../functions/domain/plan';
import { describeIssues } from '../../functions/domain/validation';
import { UsageError, printJson, readJson, readPolicy } from '../io';

export function registerPlan(program: Command): void {
  program
    .command('plan')
    .description('judge a Pub/Sub message against a policy and print the rollouts it would start')
    .requiredOption('--config <file>', 'glidepath.yaml')
    .requiredOption('--topic <topic>', 'gcr | cloud-builds | glidepath-deploy-requests')
    .requiredOption(
      '--message <file>',
      'a Pub/Sub message as JSON: {data: base64, attributes, messageId, publishTime}',
    )
    .action((opts: { config: string; topic: string; message: string }) => {
      const policy = readPolicy(opts.config);
      const parsed = PubsubMessage.safeParse(readJson(opts.message, 'message file'), { reportInput: true });
      if (!parsed.success)
        throw new UsageError(`message file ${opts.message}: ${describeIssues(parsed.error).join('; ')}`);
      const decision = decideIntake(policy, topicOf(opts.topic) ?? opts.topic, parsed.data);
      const now = new Date();
      printJson({
        outcome: decision.outcome,
        reason: decision.reason,
        rollouts:
          decision.outcome === 'rollout'
            ? decision.requests.map((r) => {
                const plan = buildPlan(r, rolloutId(r.service.name, r.digest, now));
                return {
                  ...plan,
                  ...(r.tag ? { tag: r.tag } : {}),
                  ...(r.regions ? { regions: r.regions } : {}),
                };
              })
            : [],
      });
    });
}
