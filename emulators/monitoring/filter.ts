/**
 * The subset of the Cloud Monitoring filter language the emulator serves:
 * equality clauses joined by AND, e.g.
 *   metric.type = "run.googleapis.com/request_count" AND resource.labels.revision_name = "api-00002-abc"
 * Selectors: metric.type, resource.type, resource.label(s).<key>, metric.label(s).<key>.
 * Anything else is rejected with INVALID_ARGUMENT naming the unsupported part.
 */
import { RpcError, Status } from '../cloudrun/protos';

type Selector =
  | { kind: 'metric.type' }
  | { kind: 'resource.type' }
  | { kind: 'resource.label'; key: string }
  | { kind: 'metric.label'; key: string };

export interface Clause {
  selector: Selector;
  value: string;
}

const SELECTOR = /^(metric\.type|resource\.type|(resource|metric)\.labels?\.([A-Za-z_][A-Za-z0-9_]*))\b/;
const STRING = /^"((?:[^"\\]|\\.)*)"/;

function unsupported(filter: string, at: number, expected: string): never {
  const rest = filter.slice(at).slice(0, 60);
  throw new RpcError(
    Status.INVALID_ARGUMENT,
    `Unsupported filter at position ${at} (${JSON.stringify(rest)}) in ${JSON.stringify(filter)}: expected ${expected}. ` +
      'The emulator supports `<selector> = "<value>"` clauses joined by AND, with selectors metric.type, resource.type, resource.labels.<key> and metric.labels.<key>.',
  );
}

export function parseFilter(filter: string): Clause[] {
  const clauses: Clause[] = [];
  let i = 0;
  const skipSpace = (): void => {
    while (i < filter.length && /\s/.test(filter[i])) i++;
  };
  skipSpace();
  if (i === filter.length)
    throw new RpcError(Status.INVALID_ARGUMENT, 'filter: must specify a metric.type clause');
  for (;;) {
    const sel = SELECTOR.exec(filter.slice(i));
    if (!sel) unsupported(filter, i, 'a selector');
    const selector: Selector =
      sel[1] === 'metric.type' || sel[1] === 'resource.type'
        ? { kind: sel[1] }
        : { kind: sel[2] === 'resource' ? 'resource.label' : 'metric.label', key: sel[3] };
    i += sel[0].length;
    skipSpace();
    if (filter[i] !== '=' || filter[i + 1] === '=') unsupported(filter, i, 'the operator =');
    i++;
    skipSpace();
    const str = STRING.exec(filter.slice(i));
    if (!str) unsupported(filter, i, 'a double-quoted string');
    clauses.push({ selector, value: str[1].replace(/\\(.)/g, '$1') });
    i += str[0].length;
    skipSpace();
    if (i === filter.length) break;
    if (!/^AND\s/.test(filter.slice(i))) unsupported(filter, i, 'AND or the end of the filter');
    i += 3;
    skipSpace();
  }
  if (!clauses.some((c) => c.selector.kind === 'metric.type'))
    throw new RpcError(
      Status.INVALID_ARGUMENT,
      `filter: ${JSON.stringify(filter)} must specify a metric.type clause`,
    );
  return clauses;
}
