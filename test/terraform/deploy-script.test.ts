/** scripts/deploy.ts: arguments, commands, prerequisites, and that importing it runs nothing. */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import {
  configuredSecrets,
  DeployError,
  checkPrerequisites,
  deployCommands,
  main,
  nextSteps,
  parseDeployArgs,
  render,
  type Runner,
} from '../../scripts/deploy';
import { REPO } from './tf';

const EXAMPLE = join(REPO, 'glidepath.example.yaml');

type Call = { cmd: string; args: string[]; env?: Record<string, string> };

/** A runner that records calls and answers from a table keyed by `cmd args[0]`. */
function fakeRunner(
  answers: Record<string, { status: number; stdout?: string; missing?: boolean }>,
  calls: Call[] = [],
): Runner {
  return (cmd, args, opts = {}) => {
    calls.push({ cmd, args, env: opts.env });
    const a = answers[`${cmd} ${args[0]}`] ?? answers[cmd] ?? { status: 0 };
    if (a.missing)
      return {
        status: null,
        stdout: '',
        stderr: '',
        error: Object.assign(new Error(`spawn ${cmd} ENOENT`), { code: 'ENOENT' }),
      };
    return { status: a.status, stdout: a.stdout ?? '', stderr: '', error: undefined };
  };
}

describe('parseDeployArgs', () => {
  it('reads flags, then the environment, with defaults', () => {
    expect(parseDeployArgs(['--project', 'my-project', '--policy', 'p.yaml'], {}, '/x')).toEqual({
      project: 'my-project',
      region: 'us-central1',
      policy: '/x/p.yaml',
      dryRun: false,
      yes: false,
      extraApplyArgs: [],
    });
    expect(
      parseDeployArgs(
        ['--dry-run', '--yes'],
        { GLIDEPATH_PROJECT: 'env-project', GLIDEPATH_REGION: 'europe-west1' },
        '/x',
      ),
    ).toMatchObject({
      project: 'env-project',
      region: 'europe-west1',
      policy: '/x/glidepath.yaml',
      dryRun: true,
      yes: true,
    });
  });

  it('rejects a missing or malformed project and unknown flags, with the usage', () => {
    expect(() => parseDeployArgs([], {})).toThrow(DeployError);
    expect(() => parseDeployArgs([], {})).toThrow(/missing --project[\s\S]*usage:/);
    expect(() => parseDeployArgs(['--project', 'My_Project'], {})).toThrow(/expected a GCP project id/);
    expect(() => parseDeployArgs(['--project', 'my-project', '--region', 'mars'], {})).toThrow(
      /expected a region/,
    );
    expect(() => parseDeployArgs(['--project', 'my-project', '--bogus'], {})).toThrow(/bogus/);
  });
});

describe('deployCommands', () => {
  const opts = parseDeployArgs(
    ['--project', 'my-project', '--region', 'europe-west1', '--policy', EXAMPLE],
    {},
  );

  it('builds, then inits and applies terraform/ with the variables', () => {
    const cmds = deployCommands(opts, { slackConfigured: false }).map(render);
    expect(cmds).toEqual([
      `npm run build -- --policy ${EXAMPLE}`,
      'terraform -chdir=terraform init -input=false',
      `terraform -chdir=terraform apply -input=false -var project_id=my-project -var region=europe-west1 -var policy_file=${EXAMPLE} -var functions_source_dir=${join(REPO, 'dist', 'functions')}`,
    ]);
  });

  it('mounts the Slack secret only once it has a version, and passes -auto-approve on --yes', () => {
    const apply = deployCommands({ ...opts, yes: true }, { slackConfigured: true })[2];
    expect(apply.args).toEqual(expect.arrayContaining(['-auto-approve', 'slack_webhook_configured=true']));
    expect(deployCommands(opts, { slackConfigured: false })[2].args.join(' ')).not.toContain(
      'slack_webhook_configured',
    );
  });

  it('mounts the signing secret and the PagerDuty key only once each has a version', () => {
    const args = (configured: Parameters<typeof deployCommands>[1]['configured']) =>
      deployCommands(opts, { slackConfigured: false, configured })[2].args.join(' ');
    expect(args([])).not.toMatch(/slack_signing_secret_configured|pagerduty_routing_key_configured/);
    expect(args(['pagerduty_routing_key_configured'])).toContain(
      '-var pagerduty_routing_key_configured=true',
    );
    expect(args(['pagerduty_routing_key_configured'])).not.toContain('slack_signing_secret_configured');
    expect(args(['slack_signing_secret_configured'])).toContain('-var slack_signing_secret_configured=true');
  });

  it('asks gcloud about each optional secret and reports those with an enabled version', () => {
    const asked: string[] = [];
    const run = ((cmd: string, args: string[]) => {
      asked.push(args[3]);
      return { status: 0, stdout: args[3] === 'glidepath-pagerduty-routing-key' ? 'versions/1\n' : '' };
    }) as unknown as Parameters<typeof configuredSecrets>[1];
    expect(configuredSecrets('my-project', run)).toEqual(['pagerduty_routing_key_configured']);
    expect(asked).toEqual(['glidepath-slack-signing-secret', 'glidepath-pagerduty-routing-key']);
  });
});

describe('checkPrerequisites', () => {
  const opts = parseDeployArgs(['--project', 'my-project', '--policy', EXAMPLE], {});

  it('passes when terraform is there and gcloud has credentials', () => {
    expect(checkPrerequisites(opts, fakeRunner({}), {})).toEqual([]);
  });

  it('says clearly when terraform is missing', () => {
    expect(checkPrerequisites(opts, fakeRunner({ terraform: { status: 0, missing: true } }), {})).toEqual([
      expect.stringMatching(/terraform is not installed/),
    ]);
  });

  it('says clearly when not logged in, or gcloud is missing', () => {
    expect(checkPrerequisites(opts, fakeRunner({ 'gcloud auth': { status: 1 } }), {})).toEqual([
      expect.stringMatching(/not logged in.*gcloud auth application-default login/),
    ]);
    expect(checkPrerequisites(opts, fakeRunner({ gcloud: { status: 0, missing: true } }), {})).toEqual([
      expect.stringMatching(/gcloud is not installed/),
    ]);
    expect(
      checkPrerequisites(opts, fakeRunner({ gcloud: { status: 0, missing: true } }), {
        GOOGLE_APPLICATION_CREDENTIALS: '/nonexistent/key.json',
      }),
    ).toEqual([expect.stringMatching(/GOOGLE_APPLICATION_CREDENTIALS points to \/nonexistent\/key\.json/)]);
  });

  it('rejects a missing or invalid policy, naming the field', () => {
    const missing = parseDeployArgs(
      ['--project', 'my-project', '--policy', '/nonexistent/glidepath.yaml'],
      {},
    );
    expect(checkPrerequisites(missing, fakeRunner({}), {})).toEqual([
      expect.stringMatching(/does not exist/),
    ]);
    const invalid = parseDeployArgs(['--project', 'my-project', '--policy', join(REPO, 'package.json')], {});
    expect(checkPrerequisites(invalid, fakeRunner({}), {})).toEqual([expect.stringMatching(/is invalid/)]);
  });
});

describe('main', () => {
  it('--dry-run prints the commands and runs nothing', () => {
    const calls: Call[] = [];
    const out: string[] = [];
    const code = main(['--project', 'my-project', '--policy', EXAMPLE, '--dry-run'], {
      run: fakeRunner({}, calls),
      out: (s) => out.push(s),
      err: () => undefined,
      env: {},
    });
    expect(code).toBe(0);
    expect(calls).toEqual([]);
    expect(out.join('\n')).toContain(
      'terraform -chdir=terraform apply -input=false -var project_id=my-project',
    );
  });

  it('stops before building when a prerequisite fails', () => {
    const calls: Call[] = [];
    const err: string[] = [];
    const code = main(['--project', 'my-project', '--policy', EXAMPLE], {
      run: fakeRunner({ 'gcloud auth': { status: 1 } }, calls),
      out: () => undefined,
      err: (s) => err.push(s),
      env: {},
    });
    expect(code).toBe(1);
    expect(calls.map((c) => c.cmd)).not.toContain('npm');
    expect(err.join('\n')).toMatch(/not logged in/);
  });

  it('builds, inits, applies, then prints the next steps; stops at the first failure', () => {
    const calls: Call[] = [];
    const out: string[] = [];
    const ok = main(['--project', 'my-project', '--policy', EXAMPLE, '--yes'], {
      run: fakeRunner({ 'gcloud secrets': { status: 0, stdout: '' } }, calls),
      out: (s) => out.push(s),
      err: () => undefined,
      env: {},
    });
    expect(ok).toBe(0);
    expect(calls.map((c) => `${c.cmd} ${c.args.slice(0, 2).join(' ')}`)).toEqual([
      'terraform version',
      'gcloud auth application-default',
      // The Slack webhook, the Slack signing secret, the PagerDuty routing key.
      'gcloud secrets versions',
      'gcloud secrets versions',
      'gcloud secrets versions',
      'npm run build',
      'terraform -chdir=terraform init',
      'terraform -chdir=terraform apply',
    ]);
    const text = out.join('\n');
    expect(text).toContain('`gcr`');
    expect(text).toContain('`cloud-builds`');
    expect(text).toContain('gcloud secrets versions add glidepath-slack-webhook --data-file=-');

    const calls2: Call[] = [];
    const failed = main(['--project', 'my-project', '--policy', EXAMPLE], {
      run: fakeRunner({ 'npm run': { status: 2 } }, calls2),
      out: () => undefined,
      err: () => undefined,
      env: {},
    });
    expect(failed).toBe(1);
    expect(calls2.filter((c) => c.args[0] === '-chdir=terraform')).toEqual([]);
  });

  it('detects a Slack secret version and mounts it', () => {
    const calls: Call[] = [];
    main(['--project', 'my-project', '--policy', EXAMPLE], {
      run: fakeRunner(
        {
          'gcloud secrets': { status: 0, stdout: 'projects/1/secrets/glidepath-slack-webhook/versions/1\n' },
        },
        calls,
      ),
      out: () => undefined,
      err: () => undefined,
      env: {},
    });
    const apply = calls.find((c) => c.args[1] === 'apply')!;
    expect(apply.args).toContain('slack_webhook_configured=true');
    expect(nextSteps(parseDeployArgs(['--project', 'my-project'], {}), true)).not.toContain('versions add');
  });
});

it('runs nothing when imported', () => {
  const r = spawnSync(
    process.execPath,
    ['--import', 'tsx', '-e', "require('./scripts/deploy.ts'); console.log('imported')"],
    { cwd: REPO, encoding: 'utf8', env: { ...process.env, PATH: '' } },
  );
  expect(r.stderr).toBe('');
  expect(r.stdout.trim()).toBe('imported');
});
