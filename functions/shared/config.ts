/**
 * Runtime configuration from the environment, validated once. On GCP,
 * Terraform sets these; on the local cloud, the launcher does, adding the
 * `*_ENDPOINT` variables that point the real clients at the emulators.
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { parseOrThrow } from '../domain/validation';
import { parsePolicyYaml, type Policy } from '../domain/policy';

const Env = z.object({
  GLIDEPATH_PROJECT: z.string().min(1),
  GLIDEPATH_LOCATION: z.string().min(1).default('us-central1'),
  GLIDEPATH_POLICY_FILE: z.string().min(1).default('glidepath.yaml'),
  GLIDEPATH_DEAD_LETTER_TOPIC: z.string().min(1).default('glidepath-dead-letters'),
  GLIDEPATH_DEPLOY_TOPIC: z.string().min(1).default('glidepath-deploy-requests'),
  /** The workflows' service account: the only caller the actions function accepts. */
  GLIDEPATH_WORKFLOW_SA: z.string().optional(),
  /** Local only: the secret the Workflows emulator signs its OIDC-shaped tokens with. */
  GLIDEPATH_LOCAL_OIDC_SECRET: z.string().optional(),
  /**
   * Local only: the identity the actions function's ID tokens carry (on GCP the
   * metadata server knows the function's service account).
   */
  GLIDEPATH_LOCAL_ACTIONS_SA: z.string().optional(),
  /** Cloud Scheduler's service account: the only caller the sweeper accepts. */
  GLIDEPATH_SCHEDULER_SA: z.string().optional(),
  /** The sweeper's patience beyond a plan's longest quiet period (see functions/domain/sweep.ts). */
  GLIDEPATH_SWEEP_HEARTBEAT_GRACE_SECONDS: z.coerce
    .number()
    .int()
    .min(0)
    .default(15 * 60),
  GLIDEPATH_SWEEP_LAUNCH_GRACE_SECONDS: z.coerce
    .number()
    .int()
    .min(0)
    .default(10 * 60),
  GLIDEPATH_WORKFLOWS_ENDPOINT: z.string().optional(),
  GLIDEPATH_RUN_ENDPOINT: z.string().optional(),
  GLIDEPATH_MONITORING_ENDPOINT: z.string().optional(),
  GLIDEPATH_DEDUP_TTL_SECONDS: z.coerce
    .number()
    .int()
    .positive()
    .default(7 * 24 * 3600),
  SLACK_WEBHOOK_URL: z.string().url().optional(),
  /** The Slack app's signing secret (Secret Manager): the interaction function refuses every click without it. */
  SLACK_SIGNING_SECRET: z.string().min(1).optional(),
  /** The only host a click's response_url may point at: Slack's on GCP, the Slack sink locally. */
  GLIDEPATH_SLACK_RESPONSE_URL_PREFIX: z.string().url().default('https://hooks.slack.com/'),
  /** The PagerDuty Events API v2 routing key (Secret Manager); without it nothing is paged. */
  PAGERDUTY_ROUTING_KEY: z.string().min(1).optional(),
  /** Where PagerDuty events go: PagerDuty's endpoint on GCP, the PagerDuty sink locally. */
  GLIDEPATH_PAGERDUTY_URL: z.string().url().default('https://events.pagerduty.com/v2/enqueue'),
  /**
   * Local only: policy seconds per real second, the local cloud's --speed
   * (its Monitoring emulator's delay and the workflows' sleeps are scaled
   * alike). 1 on GCP.
   */
  GLIDEPATH_TIME_SCALE: z.coerce.number().positive().default(1),
  /** GCP: the private bucket rollout reports go to (terraform/reports.tf). */
  GLIDEPATH_REPORT_BUCKET: z.string().min(3).optional(),
  /** Local cloud: the folder rollout reports go to, when no bucket is set. */
  GLIDEPATH_REPORT_DIR: z.string().min(1).optional(),
});
export type Config = z.output<typeof Env>;

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  return parseOrThrow(Env, env, 'invalid environment');
}

export function loadPolicy(path: string): Policy {
  return parsePolicyYaml(readFileSync(path, 'utf8'));
}
