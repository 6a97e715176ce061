/**
 * `npm run terraform-schema`: extracts, into test/terraform/google-provider-schema.json, the schema
 * of every google resource and data source type that terraform/ uses, from @cdktf/provider-google
 * 16.12.1 (generated from hashicorp/google 6.50.0). `terraform validate` needs the provider
 * binary, which is not reachable offline; this package carries the same arguments and blocks.
 *
 * The package is about 300 MB unpacked: it is fetched on demand with `npm pack` into a temporary
 * folder, only its `.jsii` manifest is unpacked, and the folder is removed. It is never a
 * dependency. Run it again when terraform/ starts using a new type.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from '@cdktf/hcl2json';

const PACKAGE = '@cdktf/provider-google@16.12.1';
const REPO = join(__dirname, '..');
const TERRAFORM = join(REPO, 'terraform');
const SCHEMA_FILE = join(REPO, 'test', 'terraform', 'google-provider-schema.json');

/** Types the other Glidepath issues are about to use, so that adding them needs no new download. */
const ALSO = [
  'resource google_cloud_run_v2_service_iam_member',
  'resource google_cloud_run_v2_job_iam_member',
];

export interface BlockSchema {
  /** Argument name → its type (`string`, `number`, `boolean`, `list(string)`, `map(string)`, …). */
  arguments: Record<string, string>;
  /** The arguments and blocks that must be set. */
  required: string[];
  blocks: Record<string, BlockSchema>;
}

export interface ProviderSchema {
  source: string;
  resource: Record<string, BlockSchema>;
  data: Record<string, BlockSchema>;
}

// The parts of the jsii assembly format (`.jsii`) read here.
interface JsiiType {
  kind: string;
  fqn: string;
  datatype?: boolean;
  docs?: { summary?: string };
  properties?: JsiiProperty[];
}
interface JsiiProperty {
  name: string;
  optional?: boolean;
  docs?: { remarks?: string; summary?: string };
  type: JsiiTypeRef;
}
interface JsiiTypeRef {
  primitive?: string;
  fqn?: string;
  collection?: { kind: string; elementtype: JsiiTypeRef };
  union?: { types: JsiiTypeRef[] };
}

const RESOLVABLE = 'cdktf.IResolvable';

/** The struct a block property holds (one block, or a list of them), if it is a block. */
function blockStruct(t: JsiiTypeRef, types: Record<string, JsiiType>): string | undefined {
  if (t.fqn && types[t.fqn]?.datatype) return t.fqn;
  if (t.collection && t.collection.kind === 'array') return blockStruct(t.collection.elementtype, types);
  for (const member of t.union?.types ?? []) {
    const fqn = blockStruct(member, types);
    if (fqn) return fqn;
  }
  return undefined;
}

function typeName(t: JsiiTypeRef): string {
  if (t.primitive) return t.primitive === 'json' ? 'any' : t.primitive;
  if (t.collection)
    return `${t.collection.kind === 'array' ? 'list' : 'map'}(${typeName(t.collection.elementtype)})`;
  const members = (t.union?.types ?? []).filter((m) => m.fqn !== RESOLVABLE);
  if (members.length) return typeName(members[0]);
  return 'any';
}

/** The Terraform name, from the registry link every generated property carries. */
function terraformName(p: JsiiProperty): string {
  const link = /\{@link https:\/\/registry\.terraform\.io\/\S+#([a-z0-9_]+) \S+\}/.exec(
    p.docs?.remarks ?? '',
  );
  return link?.[1] ?? p.name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

function struct(fqn: string, types: Record<string, JsiiType>, depth = 0): BlockSchema {
  if (depth > 12) throw new Error(`${fqn}: blocks nested deeper than 12`);
  const schema: BlockSchema = { arguments: {}, required: [], blocks: {} };
  for (const p of types[fqn]?.properties ?? []) {
    const name = terraformName(p);
    const nested = blockStruct(p.type, types);
    if (nested) schema.blocks[name] = struct(nested, types, depth + 1);
    else schema.arguments[name] = typeName(p.type);
    if (!p.optional) schema.required.push(name);
  }
  schema.required.sort();
  return schema;
}

/** Every `resource`/`data` type in the `.tf` files under terraform/ (examples included). */
export async function usedTypes(dir = TERRAFORM): Promise<string[]> {
  const found = new Set<string>();
  const walk = async (d: string): Promise<void> => {
    for (const entry of readdirSync(d, { withFileTypes: true })) {
      const path = join(d, entry.name);
      if (entry.isDirectory() && !entry.name.startsWith('.')) await walk(path);
      else if (entry.name.endsWith('.tf')) {
        const json = (await parse(entry.name, readFileSync(path, 'utf8'))) as Record<string, object>;
        for (const kind of ['resource', 'data'])
          for (const type of Object.keys(json[kind] ?? {})) found.add(`${kind} ${type}`);
      }
    }
  };
  await walk(dir);
  return [...found].sort();
}

function extract(jsii: { types: Record<string, JsiiType> }, wanted: string[]): ProviderSchema {
  const classes = new Map<string, string>();
  for (const t of Object.values(jsii.types)) {
    if (t.kind !== 'class') continue;
    const m =
      /^Represents a \{@link https:\/\/registry\.terraform\.io\/providers\/hashicorp\/google\/[\d.]+\/docs\/(resources|data-sources)\/\w+ (google_\w+)\}/.exec(
        t.docs?.summary ?? '',
      );
    if (m) classes.set(`${m[1] === 'resources' ? 'resource' : 'data'} ${m[2]}`, t.fqn);
  }
  const schema: ProviderSchema = {
    source: `${PACKAGE} (hashicorp/google 6.50.0), by scripts/terraform-schema.ts`,
    resource: {},
    data: {},
  };
  for (const key of wanted) {
    const [kind, type] = key.split(' ') as ['resource' | 'data', string];
    if (!type.startsWith('google_')) continue; // another provider's (archive_file): not in this package
    const fqn = classes.get(key);
    if (!fqn) throw new Error(`${key}: not in ${PACKAGE}`);
    schema[kind][type] = struct(`${fqn}Config`, jsii.types);
  }
  return schema;
}

async function main(): Promise<void> {
  const wanted = [...new Set([...(await usedTypes()), ...ALSO])].sort();
  const dir = mkdtempSync(join(tmpdir(), 'glidepath-provider-'));
  try {
    process.stderr.write(`fetching ${PACKAGE} (about 32 MB) into ${dir}…\n`);
    const pack = spawnSync('npm', ['pack', PACKAGE, '--silent'], { cwd: dir, encoding: 'utf8' });
    if (pack.status !== 0) throw new Error(`npm pack ${PACKAGE} failed: ${pack.stderr}`);
    const tarball = pack.stdout.trim().split('\n').at(-1)!;
    const untar = spawnSync('tar', ['xzf', tarball, 'package/.jsii'], { cwd: dir, encoding: 'utf8' });
    if (untar.status !== 0) throw new Error(`tar failed: ${untar.stderr}`);
    const jsii = JSON.parse(readFileSync(join(dir, 'package', '.jsii'), 'utf8')) as {
      types: Record<string, JsiiType>;
    };
    const schema = extract(jsii, wanted);
    // Loaded here: prettier's entry point cannot be loaded under jest, which imports this file.
    const { format, resolveConfig } = await import('prettier');
    const options = (await resolveConfig(SCHEMA_FILE)) ?? {};
    writeFileSync(SCHEMA_FILE, await format(JSON.stringify(schema), { ...options, filepath: SCHEMA_FILE }));
    process.stderr.write(
      `wrote ${Object.keys(schema.resource).length} resource and ${Object.keys(schema.data).length} data source schemas to ${SCHEMA_FILE}\n`,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (require.main === module)
  main().catch((err) => {
    process.stderr.write(`${(err as Error).message}\n`);
    process.exit(1);
  });
