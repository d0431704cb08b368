// Two real `astro build`s in two processes, started at once on the same cache file: both succeed, the
// conversion runs once (the other build waits on the lock and finds the cache fresh), same pages.
import { spawn } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, expect, it } from 'vitest';
import { poemTitle, writeFixtureData } from './fixtures/site/make-data.ts';

const root = fileURLToPath(new URL('./fixtures/site/', import.meta.url));
const script = fileURLToPath(new URL('./support/concurrent-build.ts', import.meta.url));
const outs = ['dist-concurrent-a', 'dist-concurrent-b'];

afterAll(() => {
  for (const d of [...outs, 'data-concurrent', '.cache-concurrent'])
    rmSync(join(root, d), { recursive: true, force: true });
});

function buildInChild(out: string): Promise<{ code: number | null; output: string }> {
  return new Promise((done) => {
    const env = { ...process.env };
    delete env.VITEST; // Astro behaves differently under vitest
    const child = spawn(process.execPath, [script, out], { cwd: root, env });
    let output = '';
    child.stdout.on('data', (b) => (output += b));
    child.stderr.on('data', (b) => (output += b));
    child.on('close', (code) => done({ code, output }));
  });
}

it('two builds started at once on one cache file both succeed and convert once', async () => {
  rmSync(join(root, '.cache-concurrent'), { recursive: true, force: true });
  const data = writeFixtureData(join(root, 'data-concurrent'), 40);
  const results = await Promise.all(outs.map(buildInChild));
  for (const r of results) {
    expect(r.code, r.output).toBe(0);
    expect(r.output).toMatch(/RESULT \{"pages":\d+\}/);
  }
  // One build converts; the other waits on the lock (or comes later) and finds the cache fresh. (`astro
  // build` checks freshness twice, at its sync server and at build start, so the converting build also
  // reports the cache fresh the second time.)
  const converted = results.filter((r) => /converted 40 poems into/.test(r.output));
  expect(converted, results.map((r) => r.output).join('\n----\n')).toHaveLength(1);
  const other = results.find((r) => r !== converted[0])!;
  expect(other.output).toMatch(/cache is fresh/);
  const id = String(data.ids[9]);
  const [a, b] = outs.map((o) => readFileSync(join(root, o, 'poems', id, 'index.html'), 'utf8'));
  expect(a).toContain(poemTitle(data.ids[9]));
  expect(a).toBe(b);
}, 300_000);
