/**
 * Every `resource` and `data` block of terraform/, checked against the google provider's schema
 * (test/terraform/google-provider-schema.json, extracted by `npm run terraform-schema` from
 * @cdktf/provider-google 16.12.1, that is hashicorp/google 6.50.0): unknown arguments and blocks,
 * missing required ones, and a block written as an attribute or the reverse. This is the part of
 * `terraform validate` that needs the provider's schema, which cannot be downloaded offline.
 *
 * In @cdktf/hcl2json's output a block is an array of objects (`push_config { … }` →
 * `push_config: [{…}]`); `push_config = { … }` is an object and `labels { … }` an array.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BlockSchema, ProviderSchema } from '../../scripts/terraform-schema';
import type { TfModule } from './checks';

export const SCHEMA: ProviderSchema = JSON.parse(
  readFileSync(join(__dirname, 'google-provider-schema.json'), 'utf8'),
) as ProviderSchema;

/** Types of other providers, which the google schema does not describe. */
const OTHER_PROVIDERS: Record<string, string> = { archive_file: 'hashicorp/archive' };

/** Terraform's meta-arguments and meta-blocks, valid on every resource (data sources: no lifecycle hooks but the same names). */
const META_ARGUMENTS = new Set(['count', 'for_each', 'depends_on', 'provider']);
const META_BLOCKS = new Set(['lifecycle', 'provisioner', 'connection']);

const isBlockSyntax = (v: unknown): v is Array<Record<string, unknown>> =>
  Array.isArray(v) &&
  v.length > 0 &&
  v.every((e) => typeof e === 'object' && e !== null && !Array.isArray(e));

function checkBody(
  where: string,
  body: Record<string, unknown>,
  schema: BlockSchema,
  top: boolean,
  problems: string[],
): void {
  const dynamic = (body.dynamic ?? {}) as Record<string, Array<{ content?: Array<Record<string, unknown>> }>>;
  for (const [name, blocks] of Object.entries(dynamic)) {
    const nested = schema.blocks[name];
    if (!nested) {
      problems.push(`${where}: unknown block "${name}" (dynamic)`);
      continue;
    }
    for (const b of blocks) checkBody(`${where}.${name}`, b.content?.[0] ?? {}, nested, false, problems);
  }
  for (const [key, value] of Object.entries(body)) {
    if (key === 'dynamic' || (top && (META_ARGUMENTS.has(key) || META_BLOCKS.has(key)))) continue;
    const type = schema.arguments[key];
    const nested = schema.blocks[key];
    if (type !== undefined) {
      if (isBlockSyntax(value) && !/^(list|any)/.test(type))
        problems.push(`${where}: "${key}" is an argument (${type}), written as a block`);
    } else if (nested) {
      if (!isBlockSyntax(value)) problems.push(`${where}: "${key}" is a block, written as an argument`);
      else for (const b of value) checkBody(`${where}.${key}`, b, nested, false, problems);
    } else {
      problems.push(
        `${where}: unknown ${isBlockSyntax(value) ? 'block' : 'argument'} "${key}"; expected one of ${[...Object.keys(schema.arguments), ...Object.keys(schema.blocks)].sort().join(', ')}`,
      );
    }
  }
  for (const required of schema.required)
    if (!(required in body) && !(required in dynamic))
      problems.push(
        `${where}: missing required ${required in schema.blocks ? 'block' : 'argument'} "${required}"`,
      );
}

/** The problems of every resource and data block of `mod` (empty: all match the schema). */
export function checkProviderSchema(mod: TfModule, schema: ProviderSchema = SCHEMA): string[] {
  const problems: string[] = [];
  for (const [kind, blocks] of [
    ['resource', mod.resources],
    ['data', mod.data],
  ] as const) {
    for (const [key, block] of blocks) {
      const type = key.split('.')[0];
      const where = `${block.file}: ${kind === 'data' ? 'data.' : ''}${key}`;
      if (OTHER_PROVIDERS[type]) continue;
      const typeSchema = schema[kind][type];
      if (!typeSchema) {
        problems.push(
          `${where}: ${kind} type ${type} is not in google-provider-schema.json (run \`npm run terraform-schema\`)`,
        );
        continue;
      }
      checkBody(where, block.body as Record<string, unknown>, typeSchema, true, problems);
    }
  }
  return problems;
}
