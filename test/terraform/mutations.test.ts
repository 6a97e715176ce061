/**
 * The checks have teeth: each one passes on a copy of terraform/ and fails
 * once the copy is broken in the way that check exists to catch.
 */
import { cpSync, mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  checkFunctions,
  checkRolloutStops,
  checkLeastPrivilege,
  checkMoved,
  checkNoSecrets,
  checkReferencedFiles,
  checkReferences,
  checkReports,
  checkScheduler,
  checkSlackInteractions,
  checkPagerDuty,
  checkSmokeInvoker,
  checkSubscriptions,
  checkSweeper,
  filesUnder,
  loadModule,
  type TfModule,
} from './checks';
import { TERRAFORM_DIR, requireTerraform, terraform } from './tf';

const haveTerraform = requireTerraform('the terraform fmt mutation check');

type Check = (mod: TfModule) => string[];

let work: string;
let tf: string;

beforeEach(() => {
  work = mkdtempSync(join(tmpdir(), 'glidepath-tf-mut-'));
  tf = join(work, 'terraform');
  cpSync(TERRAFORM_DIR, tf, {
    recursive: true,
    filter: (src) => !/[/\\]\.(terraform|build)([/\\]|$)/.test(src),
  });
  // The workflow files the module reads, as stubs: this suite is about the checks, not the workflows.
  mkdirSync(join(work, 'workflows'));
  for (const f of ['rollout.workflows.yaml', 'job-run.workflows.yaml', 'job-rollout.workflows.yaml'])
    writeFileSync(join(work, 'workflows', f), 'main:\n  steps: []\n');
});

afterEach(() => rmSync(work, { recursive: true, force: true }));

/** Replaces `from` (which must occur) in terraform/<file> of the copy. */
function edit(file: string, from: string | RegExp, to: string): void {
  const p = join(tf, file);
  const text = readFileSync(p, 'utf8');
  const next = text.replace(from, to);
  if (next === text) throw new Error(`mutation did not apply: ${String(from)} not found in ${file}`);
  writeFileSync(p, next);
}

function append(file: string, text: string): void {
  writeFileSync(join(tf, file), readFileSync(join(tf, file), 'utf8') + '\n' + text);
}

/** The check passes on the untouched copy, then fails after `mutate` with a problem matching `expected`. */
async function expectCaught(check: Check, mutate: () => void, expected: RegExp): Promise<void> {
  expect(check(await loadModule(tf))).toEqual([]);
  mutate();
  const problems = check(await loadModule(tf));
  expect(problems).toEqual(expect.arrayContaining([expect.stringMatching(expected)]));
}

describe('a broken reference', () => {
  it('to a resource is caught', () =>
    expectCaught(
      checkReferences,
      () =>
        edit(
          'functions.tf',
          'service_account_email          = google_service_account.functions[each.key].email',
          'service_account_email          = google_service_account.function[each.key].email',
        ),
      /undeclared resource google_service_account\.function\b/,
    ));

  it('to a variable is caught', () =>
    expectCaught(
      checkReferences,
      () => edit('scheduler.tf', 'project     = var.project_id', 'project     = var.projectid'),
      /undeclared var projectid/,
    ));

  it('to a local inside a for expression is caught', () =>
    expectCaught(
      checkReferences,
      () => edit('main.tf', 'for job in try(local.policy.jobs, [])', 'for job in try(local.polcy.jobs, [])'),
      /undeclared local polcy/,
    ));

  it('to a data source is caught', () =>
    expectCaught(
      checkReferences,
      () =>
        edit(
          'pubsub.tf',
          'data.google_pubsub_topic.source[name].id',
          'data.google_pubsub_topic.sources[name].id',
        ),
      /undeclared data google_pubsub_topic\.sources/,
    ));

  it('in a check block is caught', () =>
    expectCaught(
      checkReferences,
      () => edit('main.tf', 'filemd5(var.policy_file)', 'filemd5(var.policy)'),
      /check\.bundled_policy_matches .*undeclared var policy\b/,
    ));

  it('in depends_on is caught', () =>
    expectCaught(
      checkReferences,
      () => edit('functions.tf', 'google_project_iam_member.builder,', 'google_project_iam_member.build,'),
      /undeclared resource google_project_iam_member\.build\b/,
    ));
});

describe('a subscription without a dead-letter policy', () => {
  it('is caught', () =>
    expectCaught(
      checkSubscriptions,
      () =>
        edit(
          'pubsub.tf',
          /(resource "google_pubsub_subscription" "feeds" \{[\s\S]*?)\n {2}dead_letter_policy \{[^}]*\}\n/,
          '$1\n',
        ),
      /google_pubsub_subscription\.feeds\["glidepath-job-triggers"\] has no dead_letter_policy/,
    ));

  it('is caught when a new subscription forgets it', () =>
    expectCaught(
      checkSubscriptions,
      () =>
        append(
          'pubsub.tf',
          `resource "google_pubsub_subscription" "extra" {
  project = var.project_id
  name    = "extra"
  topic   = google_pubsub_topic.topics["deploy_requests"].id
  expiration_policy {
    ttl = ""
  }
  retry_policy {
    minimum_backoff = "10s"
    maximum_backoff = "600s"
  }
  push_config {
    push_endpoint = google_cloudfunctions2_function.functions["intake"].service_config[0].uri
    oidc_token {
      service_account_email = google_service_account.push_invoker.email
    }
  }
}`,
        ),
      /google_pubsub_subscription\.extra has no dead_letter_policy/,
    ));

  it('is allowed only for the dead-letter subscription, on the dead-letter topic', () =>
    expectCaught(
      checkSubscriptions,
      () =>
        edit(
          'pubsub.tf',
          /(resource "google_pubsub_subscription" "dead_letters" \{[\s\S]*?topic\s+= )google_pubsub_topic\.dead_letters\.id/,
          '$1google_pubsub_topic.topics["deploy_requests"].id',
        ),
      /dead_letters is exempt from dead-lettering only as the subscription of/,
    ));

  it('that expires is caught', () =>
    expectCaught(
      checkSubscriptions,
      () => edit('pubsub.tf', 'ttl = ""', 'ttl = "2678400s"'),
      /must never expire/,
    ));
});

describe('least privilege', () => {
  it('catches roles/editor on the project', () =>
    expectCaught(
      checkLeastPrivilege,
      () =>
        append(
          'iam.tf',
          `# Convenient.
resource "google_project_iam_member" "oops" {
  project = var.project_id
  role    = "roles/editor"
  member  = "serviceAccount:\${google_service_account.functions["actions"].email}"
}`,
        ),
      /primitive role \(roles\/editor\)/,
    ));

  it('catches roles/owner on a resource', () =>
    expectCaught(
      checkLeastPrivilege,
      () => edit('iam.tf', 'role      = "roles/secretmanager.secretAccessor"', 'role      = "roles/owner"'),
      /google_secret_manager_secret_iam_member\.slack_accessor\["intake"\] grants a primitive role/,
    ));

  it('catches allUsers', () =>
    expectCaught(
      checkLeastPrivilege,
      () =>
        edit(
          'iam.tf',
          'member   = "serviceAccount:${google_service_account.workflows.email}"',
          'member   = "allUsers"',
        ),
      /grants to the public \(allUsers\)/,
    ));

  it('catches allAuthenticatedUsers', () =>
    expectCaught(
      checkLeastPrivilege,
      () =>
        edit(
          'iam.tf',
          'member             = local.pubsub_service_agent',
          'member             = "allAuthenticatedUsers"',
        ),
      /grants to the public \(allAuthenticatedUsers\)/,
    ));

  // actions and the sweeper each have one sole invoker (SOLE_INVOKERS): the same two rules for both.
  it.each(['actions', 'sweeper'])('catches another principal allowed to invoke %s', (name) =>
    expectCaught(
      checkLeastPrivilege,
      () =>
        edit(
          'iam.tf',
          '"dead-letter"   = google_cloudfunctions2_function.functions["dead-letter"].name',
          `"dead-letter"   = google_cloudfunctions2_function.functions["dead-letter"].name\n    ${name} = google_cloudfunctions2_function.functions["${name}"].name`,
        ),
      new RegExp(
        `push_invoker lets serviceAccount:\\$\\{google_service_account\\.push_invoker\\.email\\} invoke ${name}\\b`,
      ),
    ),
  );

  it.each(['actions', 'sweeper'])('catches %s left without any invoker', (name) =>
    expectCaught(
      checkLeastPrivilege,
      () =>
        edit(
          'iam.tf',
          new RegExp(
            `resource "google_cloud_run_service_iam_member" "${name}_invoker" \\{[\\s\\S]*?\\n\\}\\n`,
          ),
          '',
        ),
      new RegExp(`nobody may invoke ${name}\\b`),
    ),
  );

  it('catches a project-level grant outside the allowlist, even a small one', () =>
    expectCaught(
      checkLeastPrivilege,
      () =>
        append(
          'iam.tf',
          `# Publishing anywhere.
resource "google_project_iam_member" "publisher" {
  project = var.project_id
  role    = "roles/pubsub.publisher"
  member  = "serviceAccount:\${google_service_account.functions["intake"].email}"
}`,
        ),
      /google_project_iam_member\.publisher is a project-level grant outside the allowlist/,
    ));

  it('catches an allowlisted project-level grant that loses its comment', () =>
    expectCaught(
      checkLeastPrivilege,
      () => edit('iam.tf', /# Workflows' sys\.log[^\n]*\n/, ''),
      /workflows_log_writer is a project-level grant without a comment/,
    ));

  it('catches a broader role on an allowlisted project-level grant', () =>
    expectCaught(
      checkLeastPrivilege,
      () => edit('iam.tf', 'role    = "roles/datastore.user"', 'role    = "roles/datastore.owner"'),
      /datastore_user\["intake"\] grants roles\/datastore\.owner on the project/,
    ));

  it('catches a custom role that grows', () =>
    expectCaught(
      checkLeastPrivilege,
      () =>
        edit('iam.tf', '"run.services.update",', '"run.services.update",\n    "run.services.setIamPolicy",'),
      /holds run\.services\.setIamPolicy/,
    ));

  it("catches the sweeper's Workflows role losing workflows.callbacks.send (it re-sends gate decisions)", () =>
    expectCaught(
      checkSweeper,
      () => edit('iam.tf', /(glidepathSweeperExecutions[\s\S]*?)"workflows\.callbacks\.send",\n\s*/, '$1'),
      /sweeper_executions must hold workflows\.callbacks\.send/,
    ));

  it('catches the sweeper unable to act as the runtime service accounts (it restores a dead job rollout’s template: UpdateJob)', () =>
    expectCaught(
      checkSweeper,
      () =>
        edit(
          'iam.tf',
          /resource "google_service_account_iam_member" "sweeper_acts_as_runtime" \{[\s\S]*?\n\}\n/,
          '',
        ),
      /the sweeper holds no roles\/iam\.serviceAccountUser on each of var\.runtime_service_accounts/,
    ));

  it('catches the sweeper without the deployer role (GetJob, UpdateJob of a dead job rollout’s restore)', () =>
    expectCaught(
      checkSweeper,
      () => edit('iam.tf', /resource "google_project_iam_member" "sweeper_deployer" \{[\s\S]*?\n\}\n/, ''),
      /the sweeper holds no google_project_iam_custom_role\.deployer/,
    ));

  it('catches the deployer role losing run.jobs.update (the sweeper restores a dead job rollout’s template)', () =>
    expectCaught(
      checkSweeper,
      () => edit('iam.tf', /"run\.jobs\.update",\n\s*/, ''),
      /deployer must hold run\.jobs\.update: the sweeper restores/,
    ));

  it("catches the sweeper's Workflows role growing beyond get, cancel, create and callbacks", () =>
    expectCaught(
      checkLeastPrivilege,
      () =>
        edit(
          'iam.tf',
          '"workflows.executions.get",',
          '"workflows.executions.get",\n    "workflows.workflows.update",',
        ),
      /sweeper_executions holds workflows\.workflows\.update/,
    ));

  it('catches a custom role nobody allowlisted', () =>
    expectCaught(
      checkLeastPrivilege,
      () =>
        append(
          'iam.tf',
          `resource "google_project_iam_custom_role" "helper" {
  project     = var.project_id
  role_id     = "glidepathHelper"
  title       = "Helper"
  permissions = ["run.services.get"]
}`,
        ),
      /custom_role\.helper is a custom role outside the allowlist/,
    ));

  it('catches the sweeper invokable by allUsers', () =>
    expectCaught(
      checkLeastPrivilege,
      () =>
        edit(
          'iam.tf',
          'member   = "serviceAccount:${google_service_account.scheduler.email}"',
          'member   = "allUsers"',
        ),
      /sweeper_invoker lets allUsers invoke sweeper; only the scheduler service account may/,
    ));

  it('catches the scheduler service account invoking another function', () =>
    expectCaught(
      checkLeastPrivilege,
      () =>
        append(
          'iam.tf',
          `resource "google_cloud_run_service_iam_member" "scheduler_actions" {
  project  = var.project_id
  location = var.region
  service  = google_cloudfunctions2_function.functions["actions"].name
  role     = "roles/run.invoker"
  member   = "serviceAccount:\${google_service_account.scheduler.email}"
}`,
        ),
      /scheduler_actions lets the scheduler service account invoke .*actions.*; it may invoke only sweeper/,
    ));

  it('catches authoritative IAM', () =>
    expectCaught(
      checkLeastPrivilege,
      () =>
        append(
          'iam.tf',
          `resource "google_pubsub_topic_iam_binding" "b" {
  project = var.project_id
  topic   = google_pubsub_topic.dead_letters.name
  role    = "roles/pubsub.publisher"
  members = ["serviceAccount:\${google_service_account.functions["actions"].email}"]
}`,
        ),
      /topic_iam_binding\.b is authoritative IAM/,
    ));

  it('catches Terraform managing a Cloud Run service', () =>
    expectCaught(
      checkLeastPrivilege,
      () =>
        append(
          'main.tf',
          'resource "google_cloud_run_v2_service" "api" {\n  name     = "api"\n  location = var.region\n}',
        ),
      /google_cloud_run_v2_service\.api: Terraform must never manage Cloud Run services/,
    ));
});

describe('functions', () => {
  it('catches two functions sharing a service account', () =>
    expectCaught(
      checkFunctions,
      () =>
        edit(
          'functions.tf',
          'service_account_email          = google_service_account.functions[each.key].email',
          'service_account_email          = google_service_account.functions["intake"].email',
        ),
      /functions\["job-trigger"\] shares service account google_service_account\.functions\["intake"\] with google_cloudfunctions2_function\.functions\["intake"\]/,
    ));

  it('catches a wrong entry point', () =>
    expectCaught(
      checkFunctions,
      () => edit('main.tf', 'entry_point     = "jobTrigger"', 'entry_point     = "job_trigger"'),
      /functions\["job-trigger"\] entry point is job_trigger, expected jobTrigger/,
    ));

  it('catches a missing environment variable', () =>
    expectCaught(
      checkFunctions,
      () => edit('functions.tf', /\n\s*GLIDEPATH_WORKFLOW_SA\s*=[^\n]*/, ''),
      /does not set GLIDEPATH_WORKFLOW_SA/,
    ));

  it('catches a missing sweeper', () =>
    expectCaught(
      checkFunctions,
      () => edit('main.tf', /\n {4}sweeper = \{/, '\n    "sweeper-v2" = {'),
      /function sweeper: google_cloudfunctions2_function\.functions\["sweeper"\] is missing/,
    ));

  it("catches the sweeper's base environment lost (env no longer a merge of literal maps)", () =>
    expectCaught(
      checkFunctions,
      () =>
        edit(
          'functions.tf',
          'environment_variables          = merge(local.function_env, try(local.function_own_env[each.key], {}))',
          'environment_variables          = merge(try(local.function_own_env[each.key], {}))',
        ),
      /google_cloudfunctions2_function\.functions\["sweeper"\] does not set GLIDEPATH_PROJECT/,
    ));
});

describe('the sweeper', () => {
  it('catches its scheduler job losing the OIDC token', () =>
    expectCaught(
      checkSweeper,
      () => edit('scheduler.tf', /\n {4}oidc_token \{[^}]*\}\n/, '\n'),
      /has no oidc_token: the sweeper would be called unauthenticated/,
    ));

  it('catches any HTTP scheduler job without an OIDC token', () =>
    expectCaught(
      checkScheduler,
      () => edit('scheduler.tf', /\n {4}oidc_token \{[^}]*\}\n/, '\n'),
      /google_cloud_scheduler_job\.sweeper calls .* without an OIDC token/,
    ));

  it('catches a token of another service account', () =>
    expectCaught(
      checkSweeper,
      () =>
        edit(
          'scheduler.tf',
          'service_account_email = google_service_account.scheduler.email',
          'service_account_email = google_service_account.push_invoker.email',
        ),
      /must send an OIDC token of google_service_account\.scheduler/,
    ));

  it('catches a wrong audience', () =>
    expectCaught(
      checkSweeper,
      () =>
        edit(
          'scheduler.tf',
          'audience              = google_cloudfunctions2_function.functions["sweeper"].service_config[0].uri',
          'audience              = google_cloudfunctions2_function.functions["actions"].service_config[0].uri',
        ),
      /oidc_token audience must be the sweeper's URL/,
    ));

  it('catches GLIDEPATH_SCHEDULER_SA dropped from its environment', () =>
    expectCaught(
      checkSweeper,
      () => edit('functions.tf', /\n\s*GLIDEPATH_SCHEDULER_SA\s*=[^\n]*/, ''),
      /must set GLIDEPATH_SCHEDULER_SA = google_service_account\.scheduler\.email/,
    ));

  it('catches GLIDEPATH_SCHEDULER_SA naming another account', () =>
    expectCaught(
      checkSweeper,
      () =>
        edit(
          'functions.tf',
          'GLIDEPATH_SCHEDULER_SA                  = google_service_account.scheduler.email',
          'GLIDEPATH_SCHEDULER_SA                  = google_service_account.workflows.email',
        ),
      /must set GLIDEPATH_SCHEDULER_SA .*got \$\{google_service_account\.workflows\.email\}/,
    ));

  it('catches a grace period not taken from its variable', () =>
    expectCaught(
      checkSweeper,
      () => edit('functions.tf', 'tostring(var.sweep_launch_grace_seconds)', '"600"'),
      /must set GLIDEPATH_SWEEP_LAUNCH_GRACE_SECONDS from var\.sweep_launch_grace_seconds/,
    ));

  it('catches a schedule not taken from sweep_schedule', () =>
    expectCaught(
      checkSweeper,
      () => edit('scheduler.tf', 'schedule         = var.sweep_schedule', 'schedule         = "*/5 * * * *"'),
      /schedule must be var\.sweep_schedule/,
    ));

  it('catches a job without retries', () =>
    expectCaught(
      checkSweeper,
      () => edit('scheduler.tf', /\n {2}retry_config \{[^}]*\}\n/, '\n'),
      /has no retry_config/,
    ));

  it('catches the sweeper running as another account', () =>
    expectCaught(
      checkSweeper,
      () =>
        edit(
          'functions.tf',
          'service_account_email          = google_service_account.functions[each.key].email',
          'service_account_email          = google_service_account.scheduler.email',
        ),
      /must run as google_service_account\.functions\["sweeper"\], got \$\{google_service_account\.scheduler\.email\}/,
    ));

  it('catches the scheduler service account given anything else', () =>
    expectCaught(
      checkSweeper,
      () =>
        append(
          'iam.tf',
          `resource "google_secret_manager_secret_iam_member" "scheduler_reads_webhook" {
  project   = var.project_id
  secret_id = google_secret_manager_secret.secrets["slack-webhook"].secret_id
  role      = "roles/secretmanager.secretAccessor"
  member    = "serviceAccount:\${google_service_account.scheduler.email}"
}`,
        ),
      /scheduler_reads_webhook grants roles\/secretmanager\.secretAccessor to the scheduler service account/,
    ));
});

describe('for_each instances and their moved blocks', () => {
  it('catches a reference to an instance key that does not exist', () =>
    expectCaught(
      checkReferences,
      () =>
        edit(
          'iam.tf',
          'google_secret_manager_secret.secrets["slack-webhook"].secret_id',
          'google_secret_manager_secret.secrets["slack-webhok"].secret_id',
        ),
      /undeclared resource google_secret_manager_secret\.secrets \("google_secret_manager_secret\.secrets\["slack-webhok"\]\.secret_id"\)/,
    ));

  it('catches a renamed key, which would destroy the instance its moved block leads to', () =>
    expectCaught(
      checkMoved,
      () => edit('secrets.tf', '"slack-webhook" = { env', '"slack-hook" = { env'),
      /moved from google_secret_manager_secret\.slack_webhook to google_secret_manager_secret\.secrets\["slack-webhook"\], which is not declared/,
    ));

  it('catches a moved block whose old address is still declared', () =>
    expectCaught(
      checkMoved,
      () =>
        append('workflows.tf', 'resource "google_workflows_workflow" "rollout" {\n  name = "rollout"\n}\n'),
      /moved from google_workflows_workflow\.rollout, which is still declared/,
    ));

  it('checks every instance: one workflow whose file is missing is caught', () =>
    expectCaught(
      checkReferencedFiles,
      () => edit('workflows.tf', '"job-rollout" = {', '"job-rollouts" = {'),
      /google_workflows_workflow\.workflows\["job-rollouts"\] reads file\("\$\{path\.module\}\/\.\.\/workflows\/job-rollouts\.workflows\.yaml"\)/,
    ));
});

describe('referenced files', () => {
  it('catches a missing workflow file, naming it', () =>
    expectCaught(
      checkReferencedFiles,
      () => unlinkSync(join(work, 'workflows', 'job-run.workflows.yaml')),
      /workflows\/job-run\.workflows\.yaml is missing/,
    ));
});

describe('scheduler', () => {
  it('catches scheduler jobs that do not come from the policy', () =>
    expectCaught(
      checkScheduler,
      () => edit('scheduler.tf', 'for_each = local.policy_jobs', 'for_each = toset(["nightly-report"])'),
      /expected google_cloud_scheduler_job\.jobs \(for_each over the policy's jobs\), found 0/,
    ));

  it('catches a payload that is not {"job": NAME}', () =>
    expectCaught(
      checkScheduler,
      () => edit('scheduler.tf', 'jsonencode({ job = each.key })', 'jsonencode({ name = each.key })'),
      /data must be base64encode/,
    ));
});

describe('secrets', () => {
  const scan = (mod: TfModule) => checkNoSecrets(filesUnder(mod.dir));

  it('catches a secret version with its value', () =>
    expectCaught(
      scan,
      () =>
        append(
          'secrets.tf',
          'resource "google_secret_manager_secret_version" "v" {\n  secret      = google_secret_manager_secret.secrets["slack-webhook"].id\n  secret_data = "x"\n}',
        ),
      /secret_data/,
    ));

  it('catches a webhook URL, even in a comment', () =>
    expectCaught(
      scan,
      () => append('variables.tf', '# default: https://hooks.slack.com/services/T000/B000/XXXX'),
      /a Slack webhook URL/,
    ));

  it('catches a private key anywhere under terraform/', () =>
    expectCaught(
      scan,
      () =>
        writeFileSync(
          join(tf, 'examples', 'basic', 'key.json'),
          '{"private_key": "-----BEGIN PRIVATE KEY-----\\n"}',
        ),
      /a private key/,
    ));
});

(haveTerraform ? it : it.skip)('terraform fmt -check catches an unformatted file', () => {
  expect(terraform(['fmt', '-check', '-recursive', tf]).status).toBe(0);
  edit('scheduler.tf', 'project     = var.project_id', 'project = var.project_id');
  const r = terraform(['fmt', '-check', '-recursive', tf]);
  expect(r.status).not.toBe(0);
  expect(r.stdout).toContain('scheduler.tf');
});

describe('the smoke test invoker grant', () => {
  it('is caught when it goes project-wide', () =>
    expectCaught(
      checkSmokeInvoker,
      () =>
        append(
          'iam.tf',
          `resource "google_project_iam_member" "actions_run_invoker" {\n  project = var.project_id\n  role    = "roles/run.invoker"\n  member  = "serviceAccount:\${google_service_account.functions["actions"].email}"\n}\n`,
        ),
      /google_project_iam_member\.actions_run_invoker grants roles\/run\.invoker to the actions service account on more than one service/,
    ));

  it('is caught when it iterates over anything but the policy services', () =>
    expectCaught(
      checkSmokeInvoker,
      () =>
        edit(
          'iam.tf',
          /(actions_smoke_invoker" \{\n {2}for_each = )local\.policy_services/,
          '$1local.functions',
        ),
      /must have for_each = local\.policy_services/,
    ));

  it('is caught when the policy services leave out regions of later waves', () =>
    expectCaught(
      checkSmokeInvoker,
      () => edit('main.tf', 'flatten(s.waves)', 's.waves[0]'),
      /local\.policy_services must list every service/,
    ));

  it('is caught when it is gone', () =>
    expectCaught(
      checkSmokeInvoker,
      () =>
        edit(
          'iam.tf',
          /resource "google_cloud_run_service_iam_member" "actions_smoke_invoker" \{[\s\S]*?\n\}\n/,
          '',
        ),
      /expected one roles\/run\.invoker grant for the actions service account \(the smoke test\), found 0/,
    ));
});

describe('the reports bucket', () => {
  it('catches a bucket with object ACLs', () =>
    expectCaught(
      checkReports,
      () => edit('reports.tf', /(reports" \{[\s\S]*?uniform_bucket_level_access = )true/, '$1false'),
      /uniform_bucket_level_access = true/,
    ));

  it('catches a bucket that could be made public', () =>
    expectCaught(
      checkReports,
      () =>
        edit(
          'reports.tf',
          'public_access_prevention    = "enforced"',
          'public_access_prevention    = "inherited"',
        ),
      /public_access_prevention = "enforced"/,
    ));

  it('catches reports kept for ever', () =>
    expectCaught(
      checkReports,
      () => edit('reports.tf', /\n {2}lifecycle_rule \{[\s\S]*?\n {2}\}\n/, '\n'),
      /delete reports after 90 days/,
    ));

  it('catches reports kept a year', () =>
    expectCaught(checkReports, () => edit('reports.tf', 'age = 90', 'age = 365'), /got ages \[365\]/));

  it('catches a writer that may also read and replace (objectAdmin)', () =>
    expectCaught(
      checkReports,
      () =>
        edit('reports.tf', 'role   = "roles/storage.objectCreator"', 'role   = "roles/storage.objectAdmin"'),
      /grants roles\/storage\.objectAdmin on the reports bucket/,
    ));

  it('catches another writer', () =>
    expectCaught(
      checkReports,
      () =>
        edit(
          'reports.tf',
          'sweeper       = google_service_account.functions["sweeper"].email',
          'sweeper       = google_service_account.functions["sweeper"].email\n    intake        = google_service_account.functions["intake"].email',
        ),
      /google_service_account\.functions\["intake"\]\.email\} may write reports/,
    ));

  it('catches actions unable to write its reports', () =>
    expectCaught(
      checkReports,
      () => edit('reports.tf', '    actions       = google_service_account.functions["actions"].email\n', ''),
      /google_service_account\.functions\["actions"\]\.email\} cannot write reports/,
    ));

  it('catches a reader that is not from var.report_readers', () =>
    expectCaught(
      checkReports,
      () => edit('reports.tf', 'member = each.value', 'member = "allAuthenticatedUsers"'),
      /readers of the reports bucket come from var\.report_readers only/,
    ));

  it('catches functions not told the bucket', () =>
    expectCaught(
      checkReports,
      () => edit('functions.tf', /\n\s*GLIDEPATH_REPORT_BUCKET\s*= google_storage_bucket\.reports\.name/, ''),
      /must set GLIDEPATH_REPORT_BUCKET/,
    ));
});

describe('rollout-stops: Slack stops settled outside the click', () => {
  it('catches slack-interactions losing its publisher binding on glidepath-rollout-stops', () =>
    expectCaught(
      checkRolloutStops,
      () =>
        edit(
          'iam.tf',
          /resource "google_pubsub_topic_iam_member" "slack_interactions_stop_publisher" \{[\s\S]*?\n\}\n/,
          '',
        ),
      /slack-interactions, and only it, must hold roles\/pubsub\.publisher on it/,
    ));

  it('catches another account publishing stops', () =>
    expectCaught(
      checkRolloutStops,
      () =>
        edit(
          'iam.tf',
          'member  = "serviceAccount:${google_service_account.functions["slack-interactions"].email}"\n}\n\n# Every function',
          'member  = "serviceAccount:${google_service_account.functions["intake"].email}"\n}\n\n# Every function',
        ),
      /slack-interactions, and only it, must hold roles\/pubsub\.publisher/,
    ));

  it('catches rollout-stops losing the deployer role it restores traffic with', () =>
    expectCaught(
      checkRolloutStops,
      () =>
        edit('iam.tf', /resource "google_project_iam_member" "rollout_stops_deployer" \{[\s\S]*?\n\}\n/, ''),
      /rollout-stops lacks google_project_iam_member\.rollout_stops_deployer/,
    ));

  it('catches rollout-stops no longer able to start the queued rollout', () =>
    expectCaught(
      checkRolloutStops,
      () =>
        edit(
          'iam.tf',
          '    "rollout-stops" = google_service_account.functions["rollout-stops"].email\n  }\n\n  project = var.project_id\n  role    = "roles/workflows.invoker"',
          '  }\n\n  project = var.project_id\n  role    = "roles/workflows.invoker"',
        ),
      /rollout-stops lacks google_project_iam_member\.workflows_invoker/,
    ));

  it('catches slack-interactions given back the Cloud Run role it no longer needs', () =>
    expectCaught(
      checkRolloutStops,
      () =>
        edit(
          'iam.tf',
          'member  = "serviceAccount:${google_service_account.functions["rollout-stops"].email}"\n}\n\n# ---',
          'member  = "serviceAccount:${google_service_account.functions["rollout-stops"].email}"\n}\n\nresource "google_project_iam_member" "slack_interactions_deployer" {\n  for_each = local.deploy_target_projects\n\n  project = each.value\n  role    = google_project_iam_custom_role.deployer[each.value].id\n  member  = "serviceAccount:${google_service_account.functions["slack-interactions"].email}"\n}\n\n# ---',
        ),
      /slack-interactions holds google_project_iam_member\.slack_interactions_deployer .*: it only records a stop/,
    ));

  it('catches the stop subscription pushing to another function', () =>
    expectCaught(
      checkRolloutStops,
      () =>
        edit(
          'pubsub.tf',
          '"glidepath-rollout-stops"   = "rollout-stops"',
          '"glidepath-rollout-stops"   = "intake"',
        ),
      /must push to google_cloudfunctions2_function\.functions\["rollout-stops"\]/,
    ));
});

describe('slack-interactions: public and signature-verified', () => {
  it('catches allUsers invoking another function', () =>
    expectCaught(
      checkLeastPrivilege,
      () =>
        append(
          'iam.tf',
          `resource "google_cloud_run_service_iam_member" "intake_public" {
  project  = var.project_id
  location = google_cloudfunctions2_function.functions["intake"].location
  service  = google_cloudfunctions2_function.functions["intake"].name
  role     = "roles/run.invoker"
  member   = "allUsers"
}`,
        ),
      /intake_public grants to the public \(allUsers\)/,
    ));

  it('catches the public grant widened beyond run.invoker', () =>
    expectCaught(
      checkLeastPrivilege,
      () =>
        edit(
          'iam.tf',
          /(slack_interactions_public" \{[\s\S]*?)role {5}= "roles\/run\.invoker"/,
          '$1role     = "roles/run.developer"',
        ),
      /slack_interactions_public grants to the public \(allUsers\)/,
    ));

  it('catches the function no longer mounting its signing secret', () =>
    expectCaught(
      checkSlackInteractions,
      () =>
        edit(
          'main.tf',
          'secrets         = ["slack-webhook", "slack-signing-secret"]',
          'secrets         = ["slack-webhook"]',
        ),
      /functions\["slack-interactions"\] must mount SLACK_SIGNING_SECRET from google_secret_manager_secret\.secrets\["slack-signing-secret"\]: without it nothing verifies/,
    ));

  it('catches the signing secret mounted under another name', () =>
    expectCaught(
      checkSlackInteractions,
      () => edit('secrets.tf', 'env = "SLACK_SIGNING_SECRET"', 'env = "SLACK_SIGNING_SECRETS"'),
      /must mount SLACK_SIGNING_SECRET from/,
    ));

  it('catches the secrets mounted some other way than their entries say', () =>
    expectCaught(
      checkSlackInteractions,
      () =>
        edit(
          'functions.tf',
          'key        = local.secrets[secret_environment_variables.value].env',
          'key        = "SLACK_SIGNING_SECRET"',
        ),
      /must mount each secret it lists as local\.secrets\[secret\]\.env from google_secret_manager_secret\.secrets/,
    ));

  it('catches the function kept off the internet, where Slack is', () =>
    expectCaught(
      checkSlackInteractions,
      () => edit('main.tf', 'ingress         = "ALLOW_ALL"', 'ingress         = var.function_ingress'),
      /must admit all traffic/,
    ));

  it('catches another service account reading the signing secret', () =>
    expectCaught(
      checkSlackInteractions,
      () =>
        append(
          'iam.tf',
          `resource "google_secret_manager_secret_iam_member" "intake_reads_signing_secret" {
  project   = var.project_id
  secret_id = google_secret_manager_secret.secrets["slack-signing-secret"].secret_id
  role      = "roles/secretmanager.secretAccessor"
  member    = "serviceAccount:\${google_service_account.functions["intake"].email}"
}`,
        ),
      /intake_reads_signing_secret lets .*functions\["intake"\]\.email\} read the Slack signing secret/,
    ));

  it('catches its Workflows role growing beyond cancel and callbacks', () =>
    expectCaught(
      checkLeastPrivilege,
      () =>
        edit(
          'iam.tf',
          /(glidepathSlackExecutions[\s\S]*?)"workflows\.executions\.cancel",/,
          '$1"workflows.executions.cancel",\n    "workflows.executions.create",',
        ),
      /slack_interactions_executions holds workflows\.executions\.create, not in its allowlist/,
    ));

  it('catches the signing secret given a version', () =>
    expectCaught(
      () => checkNoSecrets(filesUnder(tf)),
      () =>
        append(
          'secrets.tf',
          `resource "google_secret_manager_secret_version" "signing" {
  secret      = google_secret_manager_secret.secrets["slack-signing-secret"].id
  secret_data = "abc"
}`,
        ),
      /secret version/,
    ));
});

describe('PagerDuty routing key', () => {
  it('catches a paging function that no longer mounts it', () =>
    expectCaught(
      checkPagerDuty,
      () =>
        edit(
          'main.tf',
          /(\n {4}sweeper = \{[\s\S]*?secrets\s*= )\["slack-webhook", "pagerduty-routing-key"\]/,
          '$1["slack-webhook"]',
        ),
      /functions\["sweeper"\] must mount PAGERDUTY_ROUTING_KEY from google_secret_manager_secret\.secrets\["pagerduty-routing-key"\]: it pages/,
    ));

  it('catches it mounted before it has a version', () =>
    expectCaught(
      checkPagerDuty,
      () => edit('secrets.tf', 'configured = var.pagerduty_routing_key_configured', 'configured = true'),
      /local\.secrets\["pagerduty-routing-key"\] must be .*got .*"configured":true/,
    ));

  it('catches another service account reading it', () =>
    expectCaught(
      checkPagerDuty,
      () =>
        edit(
          'iam.tf',
          '    sweeper = google_service_account.functions["sweeper"].email\n  }\n\n  project   = var.project_id\n  secret_id = google_secret_manager_secret.secrets["pagerduty-routing-key"].secret_id',
          '    sweeper = google_service_account.functions["sweeper"].email\n    intake  = google_service_account.functions["intake"].email\n  }\n\n  project   = var.project_id\n  secret_id = google_secret_manager_secret.secrets["pagerduty-routing-key"].secret_id',
        ),
      /pagerduty_accessor lets serviceAccount:\$\{google_service_account\.functions\["intake"\]\.email\} read the PagerDuty routing key/,
    ));

  it('catches it given a version', () =>
    expectCaught(
      () => checkNoSecrets(filesUnder(tf)),
      () =>
        append(
          'secrets.tf',
          `resource "google_secret_manager_secret_version" "pd" {
  secret      = google_secret_manager_secret.pagerduty_routing_key.id
  secret_data = "abc"
}`,
        ),
      /secret version/,
    ));
});
