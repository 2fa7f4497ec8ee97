/**
 * The image installs production dependencies only (`npm ci --omit=dev`, issue 15: a smaller image
 * pulls faster when ECS scales out). So every package the compiled service loads must be a
 * production dependency, except the embedded engine, which it loads lazily and only without a
 * database server (refused outside local use). Checked on the JavaScript TypeScript emits (type-only
 * imports vanish there, as in dist/), file by file.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { join, relative } from 'node:path';
import ts from 'typescript';

const ROOT = join(__dirname, '..', '..');
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { dependencies: Record<string, string>; devDependencies: Record<string, string> };
/** Development-only packages the service may load, and the one file that loads them (lazily). */
const LAZY_DEV_ONLY: Record<string, string> = { '@electric-sql/pglite': 'service/shared/db/index.ts', 'kysely-pglite-dialect': 'service/shared/db/index.ts' };

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith('.ts') && !e.name.endsWith('.d.ts') ? [join(dir, e.name)] : []));
}

const packageOf = (specifier: string) => specifier.split('/').slice(0, specifier.startsWith('@') ? 2 : 1).join('/');

/** What the emitted JavaScript loads: `require(...)` (static imports) and `import(...)` (lazy), per package. */
function loads(file: string): Array<{ pkg: string; lazy: boolean }> {
  const { outputText } = ts.transpileModule(readFileSync(file, 'utf8'), { compilerOptions: { module: ts.ModuleKind.Node16, target: ts.ScriptTarget.ES2022 }, fileName: file });
  const found: Array<{ pkg: string; lazy: boolean }> = [];
  for (const m of outputText.matchAll(/\b(require|import)\(\s*["']([^"']+)["']\s*\)/g)) {
    const specifier = m[2]!;
    if (specifier.startsWith('.') || specifier.startsWith('node:') || builtinModules.includes(specifier)) continue;
    found.push({ pkg: packageOf(specifier), lazy: m[1] === 'import' });
  }
  return found;
}

test('every package the compiled service loads is a production dependency; the embedded engine only lazily, from one file', () => {
  const problems: string[] = [];
  const loaded = new Set<string>();
  for (const file of sources(join(ROOT, 'service'))) {
    const name = relative(ROOT, file);
    for (const { pkg: p, lazy } of loads(file)) {
      loaded.add(p);
      if (p in pkg.dependencies) continue;
      if (LAZY_DEV_ONLY[p] === name && lazy) continue;
      problems.push(`${name} loads ${p}${lazy ? ' (lazily)' : ''}, which is not a production dependency`);
    }
  }
  expect(problems).toEqual([]);
  // The check saw real loads: the framework, the SDK and the lazily loaded engine.
  expect([...loaded]).toEqual(expect.arrayContaining(['express', 'stripe', 'pg', '@electric-sql/pglite', 'kysely-pglite-dialect']));
});

test('the engines only development needs are development dependencies (kept out of the image)', () => {
  for (const dev of ['@electric-sql/pglite', 'kysely-pglite-dialect', 'tsx']) {
    expect(pkg.dependencies).not.toHaveProperty(dev);
    expect(pkg.devDependencies).toHaveProperty(dev);
  }
});
