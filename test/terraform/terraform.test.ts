/**
 * The Terraform in terraform/, checked offline: formatting, references,
 * subscriptions, functions, least privilege, referenced files, scheduler
 * jobs generated from the policy, the sweeper and its scheduler job, and no
 * secret values.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FUNCTIONS } from '../../functions/catalog';
import {
  EXPECTED_FUNCTIONS,
  checkFunctions,
  checkRolloutStops,
  checkLeastPrivilege,
  checkMoved,
  checkSmokeInvoker,
  checkNoSecrets,
  checkReferencedFiles,
  checkReferences,
  checkReports,
  checkScheduler,
  checkSlackInteractions,
  checkPagerDuty,
  checkSubscriptions,
  checkSweeper,
  filesUnder,
  loadModule,
  mountedSecrets,
  type TfModule,
} from './checks';
import { REPO, TERRAFORM_DIR, requireTerraform, terraform } from './tf';

const haveTerraform = requireTerraform('the terraform fmt and console checks');
const itTf = haveTerraform ? it : it.skip;

/** Each address of the near-copy blocks, and the for_each instance that took its place in the state. */
const MOVED: Record<string, string> = {
  'google_secret_manager_secret.slack_webhook': 'google_secret_manager_secret.secrets["slack-webhook"]',
  'google_secret_manager_secret.slack_signing_secret':
    'google_secret_manager_secret.secrets["slack-signing-secret"]',
  'google_secret_manager_secret.pagerduty_routing_key':
    'google_secret_manager_secret.secrets["pagerduty-routing-key"]',
  'google_workflows_workflow.rollout': 'google_workflows_workflow.workflows["rollout"]',
  'google_workflows_workflow.job_run': 'google_workflows_workflow.workflows["job-run"]',
  'google_workflows_workflow.job_rollout': 'google_workflows_workflow.workflows["job-rollout"]',
  'google_pubsub_subscription.intake["gcr"]': 'google_pubsub_subscription.feeds["gcr"]',
  'google_pubsub_subscription.intake["cloud-builds"]': 'google_pubsub_subscription.feeds["cloud-builds"]',
  'google_pubsub_subscription.intake["glidepath-deploy-requests"]':
    'google_pubsub_subscription.feeds["glidepath-deploy-requests"]',
  'google_pubsub_subscription.job_triggers': 'google_pubsub_subscription.feeds["glidepath-job-triggers"]',
  ...Object.fromEntries(
    ['rollouts_finished', 'rollouts_failed', 'step_verdicts', 'function_errors'].map((name) => [
      `google_logging_metric.${name}`,
      `google_logging_metric.log_metrics["${name}"]`,
    ]),
  ),
  'google_pubsub_topic.deploy_requests': 'google_pubsub_topic.topics["deploy_requests"]',
  'google_pubsub_topic.job_triggers': 'google_pubsub_topic.topics["job_triggers"]',
  'google_pubsub_topic.rollout_stops': 'google_pubsub_topic.topics["rollout_stops"]',
  'google_monitoring_alert_policy.rollout_failed':
    'google_monitoring_alert_policy.metric_alerts["rollout_failed"]',
  'google_monitoring_alert_policy.function_errors':
    'google_monitoring_alert_policy.metric_alerts["function_errors"]',
  ...Object.fromEntries(
    Object.entries({
      intake: 'intake',
      job_trigger: 'job-trigger',
      dead_letter: 'dead-letter',
      actions: 'actions',
      sweeper: 'sweeper',
      slack_interactions: 'slack-interactions',
    }).flatMap(([old, key]) => [
      [`google_cloudfunctions2_function.${old}`, `google_cloudfunctions2_function.functions["${key}"]`],
      [`google_service_account.${old}`, `google_service_account.functions["${key}"]`],
    ]),
  ),
};

let root: TfModule;
let example: TfModule;

beforeAll(async () => {
  root = await loadModule(TERRAFORM_DIR);
  example = await loadModule(join(TERRAFORM_DIR, 'examples', 'basic'));
});

describe('terraform/', () => {
  itTf('is formatted (terraform fmt -check -recursive terraform)', () => {
    const r = terraform(['fmt', '-check', '-recursive', 'terraform'], { cwd: REPO });
    expect({ status: r.status, unformatted: r.stdout.trim() }).toEqual({ status: 0, unformatted: '' });
  });

  it('has the layout of terraform-google-modules', () => {
    expect(Object.keys(root.texts).sort()).toEqual(
      expect.arrayContaining([
        'versions.tf',
        'main.tf',
        'variables.tf',
        'outputs.tf',
        'pubsub.tf',
        'functions.tf',
        'workflows.tf',
        'firestore.tf',
        'scheduler.tf',
        'iam.tf',
        'secrets.tf',
        'monitoring.tf',
        'moved.tf',
      ]),
    );
  });

  it('describes every variable and output, types every variable', () => {
    const problems: string[] = [];
    for (const [name, { body }] of root.variables) {
      if (!body.type) problems.push(`variable ${name} has no type`);
      if (!body.description) problems.push(`variable ${name} has no description`);
    }
    for (const [name, { body }] of root.outputs)
      if (!body.description) problems.push(`output ${name} has no description`);
    expect(problems).toEqual([]);
    expect(root.variables.size).toBeGreaterThan(5);
  });

  it('pins terraform >= 1.5 and a bounded google provider range', () => {
    const text = root.texts['versions.tf'];
    expect(text).toMatch(/required_version\s*=\s*">= 1\.5"/);
    expect(text).toMatch(/source\s*=\s*"hashicorp\/google"\s*\n\s*version\s*=\s*">= 5\.\d+, < \d+"/);
    expect(text).toMatch(/hashicorp\/archive/);
  });

  it('resolves every reference to a declaration', () => {
    expect(checkReferences(root)).toEqual([]);
    expect(checkReferences(example)).toEqual([]);
  });

  it('gives every subscription a dead-letter policy, except the dead-letter subscription itself', () => {
    expect(checkSubscriptions(root)).toEqual([]);
    // The exception is explicit, and only that one.
    const dlq = root.resources.get('google_pubsub_subscription.dead_letters')!.body;
    expect(dlq.dead_letter_policy).toBeUndefined();
    expect(dlq.topic).toBe('${google_pubsub_topic.dead_letters.id}');
    const others = [...root.resources].filter(
      ([k]) => k.startsWith('google_pubsub_subscription.') && k !== 'google_pubsub_subscription.dead_letters',
    );
    expect(others.map(([k]) => k).sort()).toEqual([
      'google_pubsub_subscription.feeds["cloud-builds"]',
      'google_pubsub_subscription.feeds["gcr"]',
      'google_pubsub_subscription.feeds["glidepath-deploy-requests"]',
      'google_pubsub_subscription.feeds["glidepath-job-triggers"]',
      'google_pubsub_subscription.feeds["glidepath-rollout-stops"]',
    ]);
    for (const [, { body }] of others) expect(body.dead_letter_policy).toHaveLength(1);
  });

  it('routes the three intake topics to intake and the job triggers to job-trigger, the topic named in the push path', () => {
    const routes = Object.fromEntries(
      [...root.resources]
        .filter(([k]) => k.startsWith('google_pubsub_subscription.feeds['))
        .map(([, { body }]) => [
          body.name,
          {
            topic: body.topic,
            push: body.push_config[0].push_endpoint,
            audience: body.push_config[0].oidc_token[0].audience,
          },
        ]),
    );
    const route = (topic: string, fn: string) => ({
      topic: `\${local.feed_topic_ids["${topic}"]}`,
      push: `\${google_cloudfunctions2_function.functions["${fn}"].service_config[0].uri}/projects/\${var.project_id}/topics/${topic}`,
      audience: `\${google_cloudfunctions2_function.functions["${fn}"].service_config[0].uri}`,
    });
    expect(routes).toEqual({
      'gcr-intake': route('gcr', 'intake'),
      'cloud-builds-intake': route('cloud-builds', 'intake'),
      'glidepath-deploy-requests-intake': route('glidepath-deploy-requests', 'intake'),
      'glidepath-job-triggers-job-trigger': route('glidepath-job-triggers', 'job-trigger'),
      'glidepath-rollout-stops-rollout-stops': route('glidepath-rollout-stops', 'rollout-stops'),
    });
    expect(root.locals.get('intake_topic_ids')!.value).toContain('local.topic_names.deploy_requests');
    expect(root.locals.get('feed_topic_ids')!.value).toContain('local.topic_names.job_triggers');
    expect(root.locals.get('topic_names')!.value).toEqual({
      gcr: 'gcr',
      cloud_builds: 'cloud-builds',
      deploy_requests: 'glidepath-deploy-requests',
      job_triggers: 'glidepath-job-triggers',
      rollout_stops: 'glidepath-rollout-stops',
      dead_letters: 'glidepath-dead-letters',
    });
  });

  it('deploys the seven functions, Node 20, each with its own service account', () => {
    expect(checkFunctions(root)).toEqual([]);
  });

  it('settles Slack stops in rollout-stops: slack-interactions publishes the stop and moves no traffic', () => {
    expect(checkRolloutStops(root)).toEqual([]);
    expect(root.locals.get('feed_ack_deadline_seconds')!.value).toEqual({ 'rollout-stops': 600 });
  });

  it('makes slack-interactions public and signature-verified, its signing secret readable by it alone', () => {
    expect(checkSlackInteractions(root)).toEqual([]);
    expect(
      root.resources.get('google_secret_manager_secret.secrets["slack-signing-secret"]')!.body.secret_id,
    ).toBe('glidepath-slack-signing-secret');
    expect(root.variables.get('slack_signing_secret_configured')!.body.default).toBe(false);
  });

  it('mounts the PagerDuty routing key, a secret without a version, on the functions that page, readable by them alone', () => {
    expect(checkPagerDuty(root)).toEqual([]);
    expect(
      root.resources.get('google_secret_manager_secret.secrets["pagerduty-routing-key"]')!.body.secret_id,
    ).toBe('glidepath-pagerduty-routing-key');
    expect(root.variables.get('pagerduty_routing_key_configured')!.body.default).toBe(false);
  });

  it('mirrors functions/catalog.ts: every function, its target, its built directory', () => {
    const locals = root.locals.get('functions')!.value as Record<
      string,
      { name: string; entry_point: string }
    >;
    const fromCatalog = Object.fromEntries(FUNCTIONS.map((f) => [f.name, f.target]));
    expect(Object.fromEntries(Object.entries(locals).map(([k, v]) => [k, v.entry_point]))).toEqual(
      fromCatalog,
    );
    expect(Object.fromEntries(Object.entries(EXPECTED_FUNCTIONS).map(([k, v]) => [k, v.entryPoint]))).toEqual(
      fromCatalog,
    );
    // functions_source_dir's validation names every built directory.
    const validation = root.variables.get('functions_source_dir')!.body.validation[0].condition as string;
    for (const f of FUNCTIONS)
      expect({ f: f.name, checked: validation.includes(`"${f.name}"`) }).toEqual({
        f: f.name,
        checked: true,
      });
  });

  it('runs the sweeper every sweep_schedule, called only by Cloud Scheduler with OIDC', () => {
    expect(checkSweeper(root)).toEqual([]);
    expect(root.resources.get('google_service_account.functions["sweeper"]')!.body.account_id).toBe(
      'glidepath-sweeper',
    );
    expect(root.resources.get('google_service_account.scheduler')!.body.account_id).toBe(
      'glidepath-scheduler',
    );
    // A policy job's name has no underscore, so glidepath-<job> never collides with it.
    expect(root.resources.get('google_cloud_scheduler_job.sweeper')!.body.name).toBe('glidepath_sweeper');
    expect(root.variables.get('sweep_schedule')!.body.default).toBe('*/5 * * * *');
    expect(root.variables.get('sweep_heartbeat_grace_seconds')!.body.default).toBe(900);
    expect(root.variables.get('sweep_launch_grace_seconds')!.body.default).toBe(600);
  });

  itTf('validates the sweeper variables (terraform console over their declarations)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'glidepath-tf-'));
    try {
      const text = root.texts['variables.tf'];
      const block = (name: string) => {
        const m = new RegExp(`variable "${name}" \\{[\\s\\S]*?\\n\\}\\n`).exec(text);
        expect(m).not.toBeNull();
        return m![0];
      };
      writeFileSync(
        join(dir, 'main.tf'),
        ['sweep_schedule', 'sweep_heartbeat_grace_seconds', 'sweep_launch_grace_seconds']
          .map(block)
          .join('\n'),
      );
      const evaluate = (vars: string[]) => {
        const r = terraform(['console', '-no-color', ...vars.flatMap((v) => ['-var', v])], {
          cwd: dir,
          input:
            'jsonencode([var.sweep_schedule, var.sweep_heartbeat_grace_seconds, var.sweep_launch_grace_seconds])\n',
        });
        return { out: r.stdout.trim(), invalid: /Invalid value for variable/.test(r.stderr) ? r.stderr : '' };
      };
      expect(evaluate([])).toEqual({
        out: JSON.stringify(JSON.stringify(['*/5 * * * *', 900, 600])),
        invalid: '',
      });
      expect(
        evaluate([
          'sweep_schedule=0 * * * *',
          'sweep_heartbeat_grace_seconds=0',
          'sweep_launch_grace_seconds=0',
        ]).invalid,
      ).toBe('');
      expect(evaluate(['sweep_schedule=*/5 * * *']).invalid).toContain(
        'sweep_schedule must be a five-field cron expression',
      );
      expect(evaluate(['sweep_heartbeat_grace_seconds=-1']).invalid).toContain(
        'sweep_heartbeat_grace_seconds must be a whole number',
      );
      expect(evaluate(['sweep_launch_grace_seconds=1.5']).invalid).toContain(
        'sweep_launch_grace_seconds must be a whole number',
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('holds to least privilege', () => {
    expect(checkLeastPrivilege(root)).toEqual([]);
  });

  it('lets the actions service account invoke exactly the services of the policy (the smoke test)', () => {
    expect(checkSmokeInvoker(root)).toEqual([]);
  });

  itTf(
    'evaluates local.policy_services over glidepath.example.yaml: every service in every region of its waves',
    () => {
      const dir = mkdtempSync(join(tmpdir(), 'glidepath-tf-'));
      try {
        const strip = (v: string) => v.slice(2, -1);
        writeFileSync(
          join(dir, 'main.tf'),
          [
            `variable "policy_file" {\n  default = ${JSON.stringify(join(REPO, 'glidepath.example.yaml'))}\n}`,
            `locals {\n  policy = ${strip(root.locals.get('policy')!.value)}\n  policy_services = ${strip(root.locals.get('policy_services')!.value)}\n}`,
          ].join('\n'),
        );
        const r = terraform(['console'], { cwd: dir, input: 'jsonencode(local.policy_services)\n' });
        expect(r.stderr).toBe('');
        expect(JSON.parse(JSON.parse(r.stdout.trim()))).toEqual({
          'my-project/us-central1/api': { project: 'my-project', region: 'us-central1', name: 'api' },
          'my-project/europe-west1/api': { project: 'my-project', region: 'europe-west1', name: 'api' },
          'my-project/asia-southeast1/api': { project: 'my-project', region: 'asia-southeast1', name: 'api' },
          'my-project/us-central1/web': { project: 'my-project', region: 'us-central1', name: 'web' },
        });
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  );

  it('reads the workflow files it references (workflows/*.workflows.yaml must exist)', () => {
    expect(checkReferencedFiles(root)).toEqual([]);
  });

  it('keeps reports in a private bucket for 90 days, written by actions and the sweeper only', () => {
    expect(checkReports(root)).toEqual([]);
  });

  it('makes a scheduler job of every job in the policy', () => {
    expect(checkScheduler(root)).toEqual([]);
  });

  it('holds no secret value', () => {
    const files = [
      ...filesUnder(TERRAFORM_DIR),
      join(REPO, 'glidepath.example.yaml'),
      join(REPO, 'scripts', 'deploy.ts'),
      join(REPO, 'docs', 'deploy.md'),
    ];
    expect(checkNoSecrets(files)).toEqual([]);
    // Only the secret itself: no version, so no value in code or state.
    expect([...root.resources.keys()].filter((k) => k.startsWith('google_secret_manager_'))).toEqual(
      expect.arrayContaining(['google_secret_manager_secret.secrets["slack-webhook"]']),
    );
    expect(root.resources.get('google_secret_manager_secret.secrets["slack-webhook"]')!.body.secret_id).toBe(
      'glidepath-slack-webhook',
    );
  });

  it('mounts SLACK_WEBHOOK_URL from the secret in every function, once it has a version', () => {
    expect(root.locals.get('secrets')!.value['slack-webhook']).toEqual({
      env: 'SLACK_WEBHOOK_URL',
      configured: '${var.slack_webhook_configured}',
    });
    for (const name of Object.keys(EXPECTED_FUNCTIONS)) {
      const problems: string[] = [];
      const mounted = mountedSecrets(root, `google_cloudfunctions2_function.functions["${name}"]`, problems);
      expect({ name, problems, webhook: mounted.get('SLACK_WEBHOOK_URL') }).toEqual({
        name,
        problems: [],
        webhook: 'slack-webhook',
      });
    }
  });

  it('mounts on each function exactly the secrets it reads: the webhook everywhere, the routing key where it pages, the signing secret on slack-interactions', () => {
    const mounts = Object.fromEntries(
      Object.keys(EXPECTED_FUNCTIONS).map((name) => [
        name,
        [...mountedSecrets(root, `google_cloudfunctions2_function.functions["${name}"]`).keys()].sort(),
      ]),
    );
    expect(mounts).toEqual({
      intake: ['SLACK_WEBHOOK_URL'],
      'job-trigger': ['SLACK_WEBHOOK_URL'],
      'dead-letter': ['SLACK_WEBHOOK_URL'],
      actions: ['PAGERDUTY_ROUTING_KEY', 'SLACK_WEBHOOK_URL'],
      sweeper: ['PAGERDUTY_ROUTING_KEY', 'SLACK_WEBHOOK_URL'],
      'slack-interactions': ['SLACK_SIGNING_SECRET', 'SLACK_WEBHOOK_URL'],
      'rollout-stops': ['SLACK_WEBHOOK_URL'],
    });
  });

  it('creates the Firestore indexes the queries need and the dedup TTL', () => {
    const indexes = root.locals.get('firestore_indexes')!.value;
    const summary = Object.values<{ collection: string; fields: string[][] }>(indexes)
      .map((i) => `${i.collection}(${i.fields.map((f) => f.join(' ')).join(', ')})`)
      .sort();
    expect(summary).toEqual([
      'deadLetters(replayed ASCENDING, createdAt DESCENDING)',
      'jobRollouts(job ASCENDING, createdAt DESCENDING)',
      'jobRuns(job ASCENDING, createdAt DESCENDING)',
      'rollouts(service ASCENDING, createdAt DESCENDING)',
      'rollouts(status ASCENDING, updatedAt ASCENDING)',
    ]);
    const ttl = root.resources.get('google_firestore_field.dedup_ttl')!.body;
    expect({ collection: ttl.collection, field: ttl.field, ttl: ttl.ttl_config }).toEqual({
      collection: 'dedup',
      field: 'expiresAt',
      ttl: [{}],
    });
  });

  it('counts failed rollouts and verdicts from the functions logs', () => {
    const failed = root.resources.get('google_logging_metric.log_metrics["rollouts_failed"]')!.body;
    expect(failed.filter).toContain('jsonPayload.event="rollout_finished"');
    expect(failed.filter).toMatch(/jsonPayload\.status=\("ROLLED_BACK" OR "FAILED"\)/);
    const verdicts = root.resources.get('google_logging_metric.log_metrics["step_verdicts"]')!.body;
    expect(verdicts.filter).toContain('jsonPayload.event="step_analyzed"');
    expect(verdicts.label_extractors).toEqual({ verdict: 'EXTRACT(jsonPayload.verdict)' });
    const metrics = [...root.resources].filter(([k]) => k.startsWith('google_logging_metric.'));
    expect(metrics.map(([, { body }]) => body.name).sort()).toEqual([
      'glidepath/function_errors',
      'glidepath/rollouts_failed',
      'glidepath/rollouts_finished',
      'glidepath/step_verdicts',
    ]);
    const alerts = [...root.resources.keys()]
      .filter((k) => k.startsWith('google_monitoring_alert_policy.'))
      .sort();
    expect(alerts).toEqual([
      'google_monitoring_alert_policy.dead_letter_backlog',
      'google_monitoring_alert_policy.metric_alerts["function_errors"]',
      'google_monitoring_alert_policy.metric_alerts["rollout_failed"]',
    ]);
    const failedAlert = root.resources.get(
      'google_monitoring_alert_policy.metric_alerts["rollout_failed"]',
    )!.body;
    expect(failedAlert.conditions[0].condition_threshold[0].filter).toBe(
      'resource.type="cloud_run_revision" AND metric.type="logging.googleapis.com/user/${google_logging_metric.log_metrics["rollouts_failed"].name}"',
    );
  });

  itTf('evaluates the real scheduler expressions over glidepath.example.yaml: one job per policy job', () => {
    const dir = mkdtempSync(join(tmpdir(), 'glidepath-tf-'));
    try {
      const strip = (s: string) => {
        expect(s).toMatch(/^\$\{[\s\S]*\}$/);
        return s.slice(2, -1);
      };
      const job = root.resources.get('google_cloud_scheduler_job.jobs')!.body;
      const sub = (s: string) =>
        strip(s)
          .replace(/each\.value/g, 'value')
          .replace(/each\.key/g, 'key');
      writeFileSync(
        join(dir, 'main.tf'),
        [
          `variable "policy_file" {\n  default = ${JSON.stringify(join(REPO, 'glidepath.example.yaml'))}\n}`,
          `locals {\n  policy = ${strip(root.locals.get('policy')!.value)}\n  policy_jobs = ${strip(root.locals.get('policy_jobs')!.value)}\n}`,
        ].join('\n'),
      );
      const expr = `jsonencode({ for key, value in local.policy_jobs : key => { schedule = ${sub(job.schedule)}, time_zone = ${sub(job.time_zone)}, data = ${sub(job.pubsub_target[0].data)}, job = ${sub(job.pubsub_target[0].attributes.job)} } })`;
      const r = terraform(['console'], { cwd: dir, input: expr + '\n' });
      expect(r.stderr).toBe('');
      const out = JSON.parse(JSON.parse(r.stdout.trim())) as Record<
        string,
        { schedule: string; time_zone: string; data: string; job: string }
      >;
      const decoded = Object.fromEntries(
        Object.entries(out).map(([k, v]) => [
          k,
          {
            schedule: v.schedule,
            timeZone: v.time_zone,
            job: v.job,
            data: JSON.parse(Buffer.from(v.data, 'base64').toString()),
          },
        ]),
      );
      expect(decoded).toEqual({
        'nightly-report': {
          schedule: '0 2 * * *',
          timeZone: 'Etc/UTC',
          job: 'nightly-report',
          data: { job: 'nightly-report' },
        },
        'hourly-sync': {
          schedule: '15 * * * *',
          timeZone: 'Europe/Paris',
          job: 'hourly-sync',
          data: { job: 'hourly-sync' },
        },
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('moves every resource that became a for_each instance, so an upgrade destroys nothing', () => {
    expect(checkMoved(root)).toEqual([]);
    expect(Object.fromEntries(root.moved.map((m) => [m.from, m.to]))).toEqual(MOVED);
  });

  it('has a minimal example that calls the module', () => {
    const call = example.modules.get('glidepath')!.body;
    expect(call.source).toBe('../..');
    for (const v of ['project_id', 'policy_file']) expect(call[v]).toBeDefined();
    // Every required variable of the module (no default) is passed.
    const required = [...root.variables].filter(([, { body }]) => !('default' in body)).map(([k]) => k);
    for (const v of required) expect({ v, passed: v in call }).toEqual({ v, passed: true });
    // Every argument passed is a variable of the module.
    for (const arg of Object.keys(call).filter((k) => k !== 'source'))
      expect({ arg, declared: root.variables.has(arg) }).toEqual({ arg, declared: true });
  });
});
