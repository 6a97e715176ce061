/**
 * RE2 regular expressions (the syntax of text.match_regex, find_all_regex and
 * replace_all_regex) on JavaScript's engine. RE2's syntax page
 * (https://github.com/google/re2/wiki/Syntax) marks lookarounds and
 * backreferences NOT SUPPORTED, so they are a ValueError here as on Google;
 * RE2 spellings JavaScript lacks are translated; the few RE2 constructs with
 * no JavaScript equivalent fail the execution as a local-engine limitation.
 */
import { wfError } from './errors';

/** Escapes that are JavaScript syntax characters, kept escaped under the `u` flag. */
const JS_SYNTAX = new Set([...'^$\\.*+?()[]{}|/']);

function unsupported(fn: string, construct: string): Error {
  // Not a Raised error: Google accepts this, so an `except` must not treat it as a workflow error.
  return new Error(`${fn}: the RE2 construct ${construct} is not supported by the local engine`);
}

function invalid(fn: string, regexp: string, why: string): Error {
  return wfError('ValueError', `${fn}: invalid regular expression "${regexp}": ${why}`);
}

/** Compiles an RE2 pattern into a global, Unicode-aware JavaScript RegExp. */
export function compileRe2(fn: string, regexp: string): RegExp {
  let flags = 'gu';
  let src = regexp;
  const leading = /^\(\?([imsU]+)\)/.exec(src);
  if (leading) {
    if (leading[1].includes('U')) throw unsupported(fn, '(?U) (ungreedy)');
    flags += [...new Set(leading[1])].join('');
    src = src.slice(leading[0].length);
  }
  let out = '';
  let inClass = false;
  for (let i = 0; i < src.length; i++) {
    const c = src[i];
    if (c === '\\') {
      const n = src[i + 1] ?? '';
      i++;
      if (/[1-9]/.test(n) && !inClass) throw invalid(fn, regexp, `backreference \\${n} (RE2 has none)`);
      if (n === 'k' || n === 'Q' || n === 'C') throw unsupported(fn, `\\${n}`);
      if (n === 'A') out += '^';
      else if (n === 'z') out += '$';
      else if (n === 'x' && src[i + 1] === '{') out += '\\u';
      else if (n === 'p' || n === 'P') {
        // RE2 allows a one-letter class without braces: \pL.
        out += src[i + 1] === '{' ? `\\${n}` : `\\${n}{${src[++i] ?? ''}}`;
      } else if (/[A-Za-z0-9]/.test(n) || JS_SYNTAX.has(n) || (inClass && n === '-')) out += `\\${n}`;
      // Other escaped punctuation is a literal in RE2; JavaScript's `u` mode refuses the escape.
      else out += n;
      continue;
    }
    if (inClass) {
      if (c === '[' && src[i + 1] === ':') throw unsupported(fn, 'POSIX class [[:name:]]');
      if (c === ']') inClass = false;
      out += c;
      continue;
    }
    if (c === '[') {
      inClass = true;
      out += c;
      // A leading ] (or ^]) is a literal in RE2.
      if (src[i + 1] === '^') out += src[++i];
      if (src[i + 1] === ']') out += (i++, '\\]');
      continue;
    }
    if (c === '(' && src[i + 1] === '?') {
      const rest = src.slice(i + 2);
      if (/^(=|!|<=|<!)/.test(rest)) throw invalid(fn, regexp, 'lookarounds are not RE2 syntax');
      if (rest.startsWith('P<')) {
        out += '(?<';
        i += 3;
        continue;
      }
      if (rest.startsWith('P=')) throw invalid(fn, regexp, 'backreference (?P=name) (RE2 has none)');
      if (/^[imsU-]+[:)]/.test(rest)) throw unsupported(fn, 'flags not at the start of the pattern');
    }
    out += c;
  }
  try {
    return new RegExp(out, flags);
  } catch (err) {
    throw invalid(
      fn,
      regexp,
      (err as Error).message.replace(/^Invalid regular expression: \/.*\/[a-z]*: /, ''),
    );
  }
}

/** Code-point index of each match of `re` in `source`, in order (matches advance by code point). */
export function regexMatches(re: RegExp, source: string): { index: number; match: string }[] {
  const out: { index: number; match: string }[] = [];
  let units = 0;
  let points = 0;
  for (const m of source.matchAll(re)) {
    points += [...source.slice(units, m.index)].length;
    units = m.index;
    out.push({ index: points, match: m[0] });
  }
  return out;
}
