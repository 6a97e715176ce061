/**
 * Glidepath's Cloud Functions: one place that says what each is called, its
 * functions-framework target, its entry module and what triggers it. The
 * build, the local cloud and the docs read this; Terraform mirrors it.
 */
interface FunctionSpec {
  name: string;
  target: string;
  entry: string;
  /** Pub/Sub topics pushed to it, or 'http' (the actions endpoint; the sweeper, called by Cloud Scheduler; Slack's clicks). */
  trigger: readonly string[] | 'http';
}

export const FUNCTIONS: readonly FunctionSpec[] = [
  {
    name: 'intake',
    target: 'intake',
    entry: 'functions/entry/intake.ts',
    trigger: ['gcr', 'cloud-builds', 'glidepath-deploy-requests'],
  },
  { name: 'actions', target: 'actions', entry: 'functions/entry/actions.ts', trigger: 'http' },
  { name: 'sweeper', target: 'sweeper', entry: 'functions/entry/sweeper.ts', trigger: 'http' },
  {
    name: 'slack-interactions',
    target: 'slackInteractions',
    entry: 'functions/entry/slack-interactions.ts',
    trigger: 'http',
  },
  {
    name: 'job-trigger',
    target: 'jobTrigger',
    entry: 'functions/entry/job-trigger.ts',
    trigger: ['glidepath-job-triggers'],
  },
  {
    name: 'rollout-stops',
    target: 'rolloutStops',
    entry: 'functions/entry/rollout-stops.ts',
    trigger: ['glidepath-rollout-stops'],
  },
  {
    name: 'dead-letter',
    target: 'deadLetter',
    entry: 'functions/entry/dead-letter.ts',
    trigger: ['glidepath-dead-letters'],
  },
];
