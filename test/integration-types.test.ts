// `astro sync` writes the declarations injected with injectTypes; TypeScript then types virtual:poem-cache
// (what `astro check` relies on): correct uses compile, a wrong one is reported.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { sync } from 'astro';
import poemCache from 'astro-poem-cache';
import { writeFixtureData } from './fixtures/site/make-data.ts';

const repo = fileURLToPath(new URL('../', import.meta.url));
const root = join(repo, 'test', 'fixtures', 'site');
const tmp = mkdtempSync(join(tmpdir(), 'poem-cache-types-'));
afterAll(() => {
  rmSync(tmp, { recursive: true, force: true });
  rmSync(join(root, 'data-types'), { recursive: true, force: true });
  rmSync(join(root, '.cache-types'), { recursive: true, force: true });
});

const GOOD = `import { cacheFile, getCache, maxPagesPerPoem, pageSize } from 'virtual:poem-cache';
export function firstNeighbourTitle(id: number): string {
  const cache = getCache();
  const similar: Int32Array = cache.similar(cache.rowOf(id));
  const pages: number = Math.min(maxPagesPerPoem, Math.ceil(similar.length / pageSize));
  return \`\${cacheFile}: \${pages} page(s), first \${cache.title(similar[0])}\`;
}
`;

function tsc(source: string): string {
  writeFileSync(join(tmp, 'check.ts'), source);
  writeFileSync(
    join(tmp, 'tsconfig.json'),
    JSON.stringify({
      extends: join(repo, 'node_modules', 'astro', 'tsconfigs', 'strict.json'),
      compilerOptions: {
        noEmit: true,
        allowImportingTsExtensions: true,
        customConditions: ['source'],
        types: ['node'],
        typeRoots: [join(repo, 'node_modules', '@types')],
      },
      files: [join(root, '.astro', 'types.d.ts'), join(tmp, 'check.ts')],
    }),
  );
  try {
    execFileSync(join(repo, 'node_modules', '.bin', 'tsc'), ['-p', join(tmp, 'tsconfig.json')], {
      encoding: 'utf8',
      stdio: 'pipe',
    });
    return '';
  } catch (err) {
    return String((err as { stdout?: string }).stdout ?? err);
  }
}

describe('virtual:poem-cache types', () => {
  it('astro sync injects declarations that type the module', async () => {
    writeFixtureData(join(root, 'data-types'), 4);
    await sync({
      root,
      configFile: false,
      logLevel: 'warn',
      integrations: [poemCache({ poems: 'data-types/poems.json', cacheFile: '.cache-types/poems.cache' })],
    });
    expect(tsc(GOOD)).toBe('');
    expect(tsc(`import { pageSize } from 'virtual:poem-cache';\nexport const wrong: string = pageSize;\n`)).toMatch(
      /Type 'number' is not assignable to type 'string'/,
    );
    expect(
      tsc(`import { getCache } from 'virtual:poem-cache';\nexport const t: number = getCache().title(0);\n`),
    ).toMatch(/Type 'string' is not assignable to type 'number'/);
  }, 120_000);
});
