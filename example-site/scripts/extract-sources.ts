// Re-creates example-site/data/sources/{tang300,psalms}.json from their upstream packages.
//
// This is a one-off extraction: the committed JSON files are what the example site and
// make-pipeline-data.ts use, so neither the build nor the tests need npm or apt.
//
// Prerequisites (outside the repo):
//   mkdir /tmp/cp && cd /tmp/cp && npm init -y && npm install chinese-poetry@2.0.1
//   apt-get update && apt-get install -y bible-kjv-text   # also installs the `bible` reader
// Run (from the repo root, Node >= 22.6 for .ts):
//   node example-site/scripts/extract-sources.ts [--chinese-poetry /tmp/cp/node_modules/chinese-poetry]
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface SourcePoem {
  title: string;
  author: string;
  text: string;
  category: string;
}

const here = dirname(fileURLToPath(import.meta.url));
const outDir = join(here, '..', 'data', 'sources');

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(name);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : fallback;
}

// ---------------------------------------------------------------- 唐詩三百首
interface CpPoem {
  chapter: string;
  subchapter: string | null;
  author: string;
  paragraphs: string[];
}
interface CpBook {
  title: string;
  content: { type: string; content: CpPoem[] }[];
}

// The package's lines carry editorial variant notes such as "(明年 一作：年年)" or
// "(唯 通：惟)", some of them broken across two or three "paragraphs". They are not part
// of the poem, so every bracketed group is removed (after joining the lines, so broken
// notes go too). Each removed group must look like such a note, otherwise we stop.
const NOTE = /[ \t]*[(（][^()（）]*[)）]/g;

export function cleanTangText(paragraphs: string[]): { text: string; notes: number } {
  let notes = 0;
  const joined = paragraphs.join('\n').replace(NOTE, (m) => {
    if (!/一作|通/.test(m)) throw new Error(`unexpected bracketed text: ${JSON.stringify(m)}`);
    notes++;
    return '';
  });
  if (/[()（）]/.test(joined)) throw new Error(`unbalanced bracket left in: ${joined}`);
  const text = joined
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l.length > 0)
    .join('\n');
  return { text, notes };
}

function extractTang(pkgDir: string): SourcePoem[] {
  const pkg = JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8')) as { version: string };
  const book = JSON.parse(readFileSync(join(pkgDir, 'dist', 'mengxue', 'tangshisanbaishou.json'), 'utf8')) as CpBook;
  const out: SourcePoem[] = [];
  let notes = 0;
  for (const section of book.content) {
    for (const p of section.content) {
      const c = cleanTangText(p.paragraphs);
      notes += c.notes;
      out.push({ title: p.chapter, author: p.author, text: c.text, category: section.type });
    }
  }
  console.log(`chinese-poetry ${pkg.version}: ${out.length} poems, ${notes} variant notes removed`);
  return out;
}

// ---------------------------------------------------------------- KJV Psalms
function extractPsalms(): SourcePoem[] {
  // `bible` (package bible-kjv) reads /usr/lib/bible.data (package bible-kjv-text).
  // A huge -l width stops it wrapping verses.
  const raw = execFileSync('bible', ['-l100000', 'ps1:1-ps150:6'], { encoding: 'utf8', maxBuffer: 64 << 20 });
  const psalms: string[][] = [];
  for (const line of raw.split('\n')) {
    if (line.trim() === '') continue;
    const head = /^Psalms (\d+)$/.exec(line);
    if (head) {
      if (Number(head[1]) !== psalms.length + 1) throw new Error(`unexpected heading ${line}`);
      psalms.push([]);
      continue;
    }
    const verse = /^\s*(\d+) (.+)$/.exec(line);
    if (!verse || psalms.length === 0) throw new Error(`unexpected line: ${line}`);
    const cur = psalms[psalms.length - 1];
    if (Number(verse[1]) !== cur.length + 1) throw new Error(`verse out of order: ${line}`);
    cur.push(verse[2].trim());
  }
  if (psalms.length !== 150) throw new Error(`expected 150 psalms, got ${psalms.length}`);
  const verses = psalms.reduce((n, p) => n + p.length, 0);
  console.log(`bible-kjv-text: ${psalms.length} psalms, ${verses} verses`);
  return psalms.map((v, i) => ({ title: `Psalm ${i + 1}`, author: '', text: v.join('\n'), category: 'Psalms' }));
}

function write(name: string, poems: SourcePoem[]): void {
  mkdirSync(outDir, { recursive: true });
  writeFileSync(join(outDir, name), JSON.stringify(poems, null, 1) + '\n');
}

if (import.meta.url === `file://${process.argv[1]}`) {
  write('tang300.json', extractTang(arg('--chinese-poetry', '/tmp/cp/node_modules/chinese-poetry')));
  write('psalms.json', extractPsalms());
}
