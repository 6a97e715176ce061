/**
 * `npm run deadcode`: every export of the project (tsconfig.json's files) that
 * no other module uses, found with the TypeScript compiler's own symbol
 * resolution, so an import, an `import type`, a re-export, `typeof import(…)`
 * and a namespace member (`ns.name`) all count as a use.
 *
 * An export nothing else uses is either dead (delete it) or only used in its
 * own module (drop the `export`). The few kept on purpose are listed in
 * KEPT with the reason. Prints what it finds; exits 1 when anything is not
 * listed there, or when a listed entry is no longer reported (so the list
 * cannot go stale).
 */
import { dirname, relative } from 'node:path';
import ts from 'typescript';

const ROOT = dirname(__dirname);

/** `file › name` kept exported with no importer, and why. */
const WORKFLOWS_API =
  'public API of the standalone Workflows emulator (npm run workflows-emulator, docs/workflows-emulator.md)';
const CLOUDRUN_API = "the profile types callers of the Cloud Run emulator's setProfile pass";
const KEPT: Record<string, string> = {
  'emulators/workflows/index.ts › LIMITS': WORKFLOWS_API,
  'emulators/workflows/index.ts › OidcClaims': WORKFLOWS_API,
  'emulators/workflows/index.ts › WorkflowsEmulatorOptions': WORKFLOWS_API,
  'emulators/workflows/engine.ts › LIMITS': `re-exported as the ${WORKFLOWS_API}`,
  'emulators/workflows/server.ts › WorkflowsEmulatorOptions': `re-exported as the ${WORKFLOWS_API}`,
  'functions/shared/oidc.ts › OidcClaims': `re-exported as the ${WORKFLOWS_API}`,
  'emulators/cloudrun/index.ts › JobProfileInput': CLOUDRUN_API,
  'emulators/cloudrun/index.ts › ServiceProfileInput': CLOUDRUN_API,
  'test/global-teardown.ts › default': "jest's globalTeardown (jest.config.js names the file)",
};

function program(): ts.Program {
  const configPath = ts.findConfigFile(ROOT, ts.sys.fileExists, 'tsconfig.json')!;
  const config = ts.readConfigFile(configPath, ts.sys.readFile);
  const parsed = ts.parseJsonConfigFileContent(config.config, ts.sys, ROOT);
  return ts.createProgram(parsed.fileNames, parsed.options);
}

/**
 * Each export of the project's files that no other file refers to, as `file › name`, and whether its
 * own file uses it (`module-only`: drop the export) or nothing does (`dead`: delete it).
 */
function unusedExports(): Array<{
  entry: string;
  kind: 'dead' | 'module-only';
  declarations: ts.Declaration[];
}> {
  const prog = program();
  const checker = prog.getTypeChecker();
  const files = prog
    .getSourceFiles()
    .filter((f) => !f.isDeclarationFile && !relative(ROOT, f.fileName).startsWith('node_modules'));
  /** The files, other than its own, that refer to each symbol. */
  const usedFrom = new Map<ts.Symbol, Set<ts.SourceFile>>();
  const resolve = (s: ts.Symbol): ts.Symbol =>
    s.flags & ts.SymbolFlags.Alias ? resolve(checker.getAliasedSymbol(s)) : s;
  for (const file of files) {
    const visit = (node: ts.Node): void => {
      if (ts.isIdentifier(node) || ts.isStringLiteral(node)) {
        const symbol = checker.getSymbolAtLocation(node);
        // A declaration's own name is not a use.
        const isDeclarationName =
          !ts.isPropertyAccessExpression(node.parent) &&
          ts.getNameOfDeclaration(node.parent as ts.Declaration) === node;
        // `{ name }` uses the variable `name`.
        const shorthand =
          ts.isShorthandPropertyAssignment(node.parent) &&
          checker.getShorthandAssignmentValueSymbol(node.parent);
        if (symbol && (!isDeclarationName || shorthand)) {
          for (const s of new Set([
            symbol,
            resolve(symbol),
            ...(shorthand ? [shorthand, resolve(shorthand)] : []),
          ])) {
            const users = usedFrom.get(s) ?? new Set();
            users.add(file);
            usedFrom.set(s, users);
          }
        }
      }
      ts.forEachChild(node, visit);
    };
    visit(file);
  }
  const found: Array<{ entry: string; kind: 'dead' | 'module-only'; declarations: ts.Declaration[] }> = [];
  for (const file of files) {
    const moduleSymbol = checker.getSymbolAtLocation(file);
    if (!moduleSymbol) continue;
    for (const exported of checker.getExportsOfModule(moduleSymbol)) {
      const target = resolve(exported);
      const users = [...(usedFrom.get(target) ?? []), ...(usedFrom.get(exported) ?? [])];
      // A re-export (`export { x } from`) names its source file: the re-exporting file is not a use.
      const declaredIn = new Set((target.declarations ?? []).map((d) => d.getSourceFile()));
      if (!users.some((u) => u !== file && !declaredIn.has(u)))
        found.push({
          entry: `${relative(ROOT, file.fileName)} › ${exported.name}`,
          kind: users.length > 0 ? 'module-only' : 'dead',
          declarations: exported.declarations ?? [],
        });
    }
  }
  return found.sort((a, b) => a.entry.localeCompare(b.entry));
}

/**
 * `--fix`: drops the `export` keyword of each module-only declaration written
 * `export function|const|interface|type|class|enum …` (lists and re-exports are left to a person).
 */
function dropExports(found: ReturnType<typeof unusedExports>): void {
  const edits = new Map<string, number[]>();
  for (const { entry, kind, declarations } of found) {
    if (kind !== 'module-only' || entry in KEPT) continue;
    for (const d of declarations) {
      const statement = ts.isVariableDeclaration(d) ? d.parent.parent : d;
      const modifier = ts.canHaveModifiers(statement)
        ? ts.getModifiers(statement)?.find((m) => m.kind === ts.SyntaxKind.ExportKeyword)
        : undefined;
      if (!modifier) continue;
      const file = statement.getSourceFile().fileName;
      edits.set(file, [...(edits.get(file) ?? []), modifier.getStart()]);
    }
  }
  for (const [file, starts] of edits) {
    let text = ts.sys.readFile(file)!;
    for (const start of [...new Set(starts)].sort((a, b) => b - a))
      text = text.slice(0, start) + text.slice(start + 'export '.length);
    ts.sys.writeFile(file, text);
  }
}

if (require.main === module) {
  const found = unusedExports();
  if (process.argv.includes('--fix')) dropExports(found);
  const unlisted = found.filter((f) => !(f.entry in KEPT));
  const stale = Object.keys(KEPT).filter((k) => !found.some((f) => f.entry === k));
  for (const { entry, kind } of found)
    process.stdout.write(`${kind.padEnd(11)} ${entry}${entry in KEPT ? `  (kept: ${KEPT[entry]})` : ''}\n`);
  for (const k of stale)
    process.stdout.write(`${k}: listed as kept, but it has an importer now: remove it from KEPT\n`);
  process.stdout.write(
    `${found.length} export(s) no other module uses; ${unlisted.length} not justified in scripts/deadcode.ts\n`,
  );
  if (unlisted.length > 0 || stale.length > 0) process.exitCode = 1;
}
