/**
 * `npm run deploy`: Glidepath on GCP in one command.
 *
 *   npm run deploy -- --project my-project [--region us-central1] [--policy glidepath.yaml] [--yes] [--dry-run]
 *
 * 1. checks the prerequisites (terraform, Google credentials, the policy);
 * 2. builds the functions (`npm run build -- --policy FILE`, into dist/functions/<name>/);
 * 3. `terraform -chdir=terraform init`, then `apply` with the project,
 *    region, policy and build directory as variables;
 * 4. prints how to connect Cloud Build and Artifact Registry and how to set
 *    the Slack webhook.
 *
 * Nothing runs at import: `main` runs only when this file is the entry point.
 * See docs/deploy.md.
 */
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { isAbsolute, join, relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { parsePolicyYaml } from '../functions/domain/policy';

const REPO = resolve(__dirname, '..');
const SLACK_SECRET = 'glidepath-slack-webhook';
/** The other secrets Terraform creates without a version, by the variable that mounts each once it has one. */
const OPTIONAL_SECRETS = {
  slack_signing_secret_configured: 'glidepath-slack-signing-secret',
  pagerduty_routing_key_configured: 'glidepath-pagerduty-routing-key',
} as const;
type OptionalSecretVariable = keyof typeof OPTIONAL_SECRETS;

interface DeployOptions {
  project: string;
  region: string;
  /** Absolute path of the policy file. */
  policy: string;
  dryRun: boolean;
  /** Pass -auto-approve to terraform apply. */
  yes: boolean;
  /** Extra arguments for terraform apply (after `--`). */
  extraApplyArgs: string[];
}

export class DeployError extends Error {}

const USAGE = `usage: npm run deploy -- --project PROJECT [--region REGION] [--policy FILE] [--yes] [--dry-run] [-- TERRAFORM_APPLY_ARGS...]

  --project   GCP project id (or GLIDEPATH_PROJECT, GOOGLE_CLOUD_PROJECT)
  --region    region of the functions, workflows and scheduler jobs (or GLIDEPATH_REGION; default us-central1)
  --policy    the policy file (or GLIDEPATH_POLICY; default glidepath.yaml)
  --yes       apply without asking for confirmation
  --dry-run   print the commands instead of running them`;

/** Reads the options from the command line, then the environment. Throws DeployError with the usage. */
export function parseDeployArgs(
  argv: string[],
  env: NodeJS.ProcessEnv = process.env,
  cwd = process.cwd(),
): DeployOptions {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      options: {
        project: { type: 'string' },
        region: { type: 'string' },
        policy: { type: 'string' },
        'dry-run': { type: 'boolean', default: false },
        yes: { type: 'boolean', default: false },
        help: { type: 'boolean', default: false },
      },
      allowPositionals: true,
      strict: true,
    });
  } catch (e) {
    throw new DeployError(`${(e as Error).message}\n\n${USAGE}`);
  }
  const { values, positionals } = parsed;
  if (values.help) throw new DeployError(USAGE);
  const project = values.project ?? env.GLIDEPATH_PROJECT ?? env.GOOGLE_CLOUD_PROJECT;
  if (!project) throw new DeployError(`missing --project (or GLIDEPATH_PROJECT)\n\n${USAGE}`);
  if (!/^[a-z][a-z0-9-]{4,28}[a-z0-9]$/.test(project))
    throw new DeployError(`--project: expected a GCP project id, got ${JSON.stringify(project)}`);
  const region = values.region ?? env.GLIDEPATH_REGION ?? 'us-central1';
  if (!/^[a-z]+-[a-z]+\d+$/.test(region))
    throw new DeployError(`--region: expected a region such as us-central1, got ${JSON.stringify(region)}`);
  const policyArg = values.policy ?? env.GLIDEPATH_POLICY ?? 'glidepath.yaml';
  const policy = isAbsolute(policyArg) ? policyArg : resolve(cwd, policyArg);
  return {
    project,
    region,
    policy,
    dryRun: values['dry-run'] ?? false,
    yes: values.yes ?? false,
    extraApplyArgs: positionals,
  };
}

interface Command {
  cmd: string;
  args: string[];
  env?: Record<string, string>;
  /** Why it runs, printed before it. */
  why: string;
}

/** The commands a deploy runs, in order. */
export function deployCommands(
  opts: DeployOptions,
  state: { slackConfigured: boolean; configured?: OptionalSecretVariable[] },
): Command[] {
  const vars: Record<string, string> = {
    project_id: opts.project,
    region: opts.region,
    policy_file: opts.policy,
    functions_source_dir: join(REPO, 'dist', 'functions'),
  };
  if (state.slackConfigured) vars.slack_webhook_configured = 'true';
  for (const v of state.configured ?? []) vars[v] = 'true';
  return [
    {
      cmd: 'npm',
      args: ['run', 'build', '--', '--policy', opts.policy],
      why: 'build the functions into dist/functions/, each with a copy of the policy',
    },
    { cmd: 'terraform', args: ['-chdir=terraform', 'init', '-input=false'], why: 'install the providers' },
    {
      cmd: 'terraform',
      args: [
        '-chdir=terraform',
        'apply',
        '-input=false',
        ...(opts.yes ? ['-auto-approve'] : []),
        ...Object.entries(vars).flatMap(([k, v]) => ['-var', `${k}=${v}`]),
        ...opts.extraApplyArgs,
      ],
      why: 'create or update Glidepath',
    },
  ];
}

/** A shell-readable rendering of a command. */
export function render(c: Command): string {
  const q = (s: string) => (/^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`);
  const env = Object.entries(c.env ?? {}).map(([k, v]) => `${k}=${q(v)} `);
  return env.join('') + [c.cmd, ...c.args].map(q).join(' ');
}

export type Runner = (
  cmd: string,
  args: string[],
  opts?: { env?: Record<string, string>; inherit?: boolean },
) => Pick<SpawnSyncReturns<string>, 'status' | 'stdout' | 'stderr' | 'error'>;

const defaultRunner: Runner = (cmd, args, opts = {}) =>
  spawnSync(cmd, args, {
    cwd: REPO,
    env: { ...process.env, ...opts.env },
    encoding: 'utf8',
    stdio: opts.inherit ? 'inherit' : 'pipe',
  });

/** Everything that must hold before a deploy; each problem says how to fix it. */
export function checkPrerequisites(
  opts: DeployOptions,
  run: Runner = defaultRunner,
  env: NodeJS.ProcessEnv = process.env,
): string[] {
  const problems: string[] = [];
  const tf = run('terraform', ['version']);
  if (tf.error || tf.status !== 0)
    problems.push(
      'terraform is not installed (or not on PATH): install Terraform >= 1.5, https://developer.hashicorp.com/terraform/install',
    );
  const keyFile = env.GOOGLE_APPLICATION_CREDENTIALS;
  if (keyFile) {
    if (!existsSync(keyFile))
      problems.push(`GOOGLE_APPLICATION_CREDENTIALS points to ${keyFile}, which does not exist`);
  } else {
    const token = run('gcloud', ['auth', 'application-default', 'print-access-token']);
    if (token.error)
      problems.push(
        'gcloud is not installed and GOOGLE_APPLICATION_CREDENTIALS is not set: install the Google Cloud SDK, https://cloud.google.com/sdk/docs/install',
      );
    else if (token.status !== 0)
      problems.push(
        'not logged in to Google Cloud: run `gcloud auth application-default login` (Terraform uses Application Default Credentials)',
      );
  }
  if (!existsSync(opts.policy)) {
    problems.push(
      `policy file ${opts.policy} does not exist: copy glidepath.example.yaml to glidepath.yaml and adapt it, or pass --policy`,
    );
  } else {
    try {
      parsePolicyYaml(readFileSync(opts.policy, 'utf8'));
    } catch (e) {
      problems.push(`policy file ${opts.policy} is invalid: ${(e as Error).message}`);
    }
  }
  return problems;
}

/** Whether the Slack secret already has an enabled version (then functions can mount it). */
function slackSecretHasVersion(project: string, run: Runner = defaultRunner): boolean {
  return secretHasVersion(SLACK_SECRET, project, run);
}

/** The variables of OPTIONAL_SECRETS whose secret already has an enabled version. */
export function configuredSecrets(project: string, run: Runner = defaultRunner): OptionalSecretVariable[] {
  return (Object.keys(OPTIONAL_SECRETS) as OptionalSecretVariable[]).filter((v) =>
    secretHasVersion(OPTIONAL_SECRETS[v], project, run),
  );
}

function secretHasVersion(secret: string, project: string, run: Runner): boolean {
  const r = run('gcloud', [
    'secrets',
    'versions',
    'list',
    secret,
    `--project=${project}`,
    '--filter=state:enabled',
    '--limit=1',
    '--format=value(name)',
  ]);
  return !r.error && r.status === 0 && String(r.stdout ?? '').trim() !== '';
}

/** What to do after the apply. */
export function nextSteps(opts: DeployOptions, slackConfigured: boolean): string {
  return [
    '',
    'Glidepath is deployed. Next steps:',
    '',
    `1. Artifact Registry: pushes to repositories of project ${opts.project} are published to the topic \`gcr\` automatically,`,
    "   now that it exists. Nothing to configure; a push of an image under a service's `image` repository starts a rollout.",
    `2. Cloud Build: builds of project ${opts.project} are published to the topic \`cloud-builds\` automatically.`,
    "   SUCCESS builds whose images match a service roll out. (A build in another project publishes to that project's",
    "   topic: deploy Glidepath there too, or push from that project to this one's `gcr` topic.)",
    slackConfigured
      ? '3. Slack: the webhook secret has a version and is mounted as SLACK_WEBHOOK_URL.'
      : [
          `3. Slack: set the webhook (the value never goes through Terraform), then deploy again to mount it:`,
          `     printf %s "$SLACK_WEBHOOK_URL" | gcloud secrets versions add ${SLACK_SECRET} --data-file=- --project=${opts.project}`,
          `     npm run deploy -- --project ${opts.project} --region ${opts.region}`,
        ].join('\n'),
    `4. Try a manual rollout: gcloud pubsub topics publish glidepath-deploy-requests --project=${opts.project} \\`,
    `     --message='{"service":"SERVICE","image":"REPOSITORY@sha256:DIGEST","reason":"first try","requestedBy":"me"}'`,
    '',
    'See docs/deploy.md.',
  ].join('\n');
}

interface MainIo {
  run: Runner;
  out: (s: string) => void;
  err: (s: string) => void;
  env: NodeJS.ProcessEnv;
  cwd: string;
}

/** Runs a deploy; returns the exit code. */
export function main(argv: string[], io: Partial<MainIo> = {}): number {
  const {
    run = defaultRunner,
    out = (s) => process.stdout.write(s + '\n'),
    err = (s) => process.stderr.write(s + '\n'),
    env = process.env,
    cwd = process.cwd(),
  } = io;
  let opts: DeployOptions;
  try {
    opts = parseDeployArgs(argv, env, cwd);
  } catch (e) {
    err(`deploy: ${(e as Error).message}`);
    return 2;
  }
  if (opts.dryRun) {
    out(`# Dry run: the commands npm run deploy would run (from ${REPO}).`);
    out(
      `# Before them it checks: terraform installed, Google credentials (gcloud auth application-default login), the policy ${relative(cwd, opts.policy) || opts.policy} valid.`,
    );
    out(`# If the secret ${SLACK_SECRET} has a version, apply also gets -var slack_webhook_configured=true.`);
    for (const [v, secret] of Object.entries(OPTIONAL_SECRETS))
      out(`# If the secret ${secret} has a version, apply also gets -var ${v}=true.`);
    for (const c of deployCommands(opts, { slackConfigured: false })) out(render(c));
    return 0;
  }
  const problems = checkPrerequisites(opts, run, env);
  if (problems.length) {
    err('deploy: cannot deploy yet:');
    for (const p of problems) err(`  - ${p}`);
    return 1;
  }
  const slackConfigured = slackSecretHasVersion(opts.project, run);
  const configured = configuredSecrets(opts.project, run);
  for (const c of deployCommands(opts, { slackConfigured, configured })) {
    out(`\n==> ${c.why}: ${render(c)}`);
    const r = run(c.cmd, c.args, { env: c.env, inherit: true });
    if (r.error || r.status !== 0) {
      err(
        `deploy: \`${render(c)}\` failed${r.error ? `: ${r.error.message}` : ` with exit code ${r.status}`}`,
      );
      return 1;
    }
  }
  out(nextSteps(opts, slackConfigured));
  return 0;
}

if (require.main === module) {
  process.exitCode = main(process.argv.slice(2));
}
