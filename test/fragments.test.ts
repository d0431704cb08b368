// <Reuse> and the fragment store, in process: real Astro rendering (the container API renders pages with the
// runtime the built site uses), hand-written components as the compiler writes them (createComponent and the
// `render` template tag). Every page rendered with fragments is compared with the same page rendered without.
import { describe, expect, it } from 'vitest';
import { experimental_AstroContainer as AstroContainer } from 'astro/container';
import { createComponent, render, renderComponent } from 'astro/runtime/server/index.js';
import { mkdtempSync, renameSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type FragmentConfig,
  FragmentHost,
  installFragmentHost,
  setFragmentHost,
} from '../integration/fragment-host.ts';
import { cacheIdentity, Placeholders, splicePage } from '../integration/fragments.ts';
import { createSharedFragments } from '../integration/fragment-table.ts';
import { Reuse, reuseKey } from '../integration/reuse.ts';

type Factory = Parameters<typeof createComponent>[0];
const RENDER = Symbol.for('astro:render');
/** A render instruction as Astro's renderScript makes it for a component's <script>. */
const script = (id: string) => ({
  [RENDER]: true,
  type: 'script',
  id,
  content: `<script type="module" src="/${id}.js"></script>`,
});
const instruction = (type: string) => ({ [RENDER]: true, type });

let renders = 0;
/** A card with a scoped class and a script (once per page), counting its renders. */
const Card = createComponent(
  ((_result: unknown, props: { row: number; label?: string }) => {
    renders++;
    const { row, label = 'ünïcödé 詩' } = props;
    const heading = render`<h2>Poem ${row} — ${label}</h2>`;
    return render`<article class="card astro-x1y2" data-row="${row}">${script('card')}${heading}</article>`;
  }) as Factory,
  'src/components/Card.astro',
  undefined,
);

const component = (f: (result: unknown) => unknown, id: string) => createComponent(f as Factory, id, undefined);
const Hydrated = component(() => render`<div>${instruction('directive')}hydrated</div>`, 'src/H.astro');
const Transition = component(() => render`<div data-astro-transition-scope="astro-abc-1">x</div>`, 'src/T.astro');
/** What a page's template does for <Reuse …props />. */
const reuse = (result: unknown, props: Record<string, unknown>, slots?: unknown) =>
  renderComponent(result as never, 'Reuse', Reuse as never, props, slots as never);
/** A reused component that reuses another: the inner one renders inside the outer fragment. */
const Outer = createComponent(
  ((result: unknown, props: { row: number }) =>
    render`<section>${reuse(result, { of: Card, row: props.row + 100 })}</section>`) as Factory,
  'src/components/Outer.astro',
  undefined,
);

/** A page: the rank outside, `<Reuse of={of} row={r} />` inside, for every row. */
function page(rows: number[], of: unknown = Card) {
  return createComponent(
    ((result: unknown) =>
      render`<main>${rows.map(
        (r, i) => render`<li data-rank="${i}">${reuse(result, { of, row: r })}</li>`,
      )}</main>`) as Factory,
    'src/pages/test.astro',
    undefined,
  );
}

function config(kind: FragmentConfig['kind'], shared = kind === 'shared' ? createSharedFragments(64) : undefined) {
  return { kind, token: 'feedc0de12345678', identity: 'test', ...(shared ? { shared } : {}) } as FragmentConfig;
}

async function renderPage(container: AstroContainer, component: unknown, host?: FragmentHost): Promise<string> {
  const request = new Request('https://example.com/p/');
  host?.own(request);
  const response = await container.renderToResponse(component as never, { request });
  const bytes = new Uint8Array(await response.arrayBuffer());
  return Buffer.from(host ? host.finish(request, bytes) : bytes).toString('utf8');
}

describe('<Reuse> with a fragment host', async () => {
  const container = await AstroContainer.create();

  for (const kind of ['thread', 'shared', 'strings'] as const) {
    it(`${kind} store: each distinct fragment rendered once, pages identical to rendering in place`, async () => {
      const rows = [3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5];
      const reference = await renderPage(container, page(rows));
      // Without a host (dev, SSR, fragments: false) Reuse renders in place.
      expect(reference.match(/<script /g)).toHaveLength(1);
      expect(reference).toContain(
        '<li data-rank="0"><article class="card astro-x1y2" data-row="3">' +
          '<script type="module" src="/card.js"></script><h2>',
      );
      const notes: string[] = [];
      const host = new FragmentHost(config(kind), (c, why) => notes.push(`${c}: ${why}`));
      setFragmentHost(host);
      try {
        renders = 0;
        expect(await renderPage(container, page(rows), host)).toBe(reference);
        expect(renders).toBe(new Set(rows).size);
        expect(await renderPage(container, page(rows), host)).toBe(reference);
        expect(renders).toBe(new Set(rows).size);
        expect(host.counts).toMatchObject({ rendered: 7, reused: rows.length * 2 - 7, inline: 0 });
        // A page that starts with a fragment another page rendered first still gets the script once, in place.
        const other = await renderPage(container, page([9, 7]), host);
        expect(other).toBe(await renderPage(container, page([9, 7])));
        expect(other.indexOf('<script ')).toBeLessThan(other.indexOf('data-row="7"'));
        expect(notes).toEqual([]);
      } finally {
        setFragmentHost(undefined);
      }
    });
  }

  it('renders fragments with non-script instructions or view-transition scopes on every page, noted once', async () => {
    const notes: string[] = [];
    const host = new FragmentHost(config('thread'), (c, why) => notes.push(`${c}: ${why}`));
    setFragmentHost(host);
    try {
      for (const of of [Hydrated, Transition]) {
        const reference = await renderPage(container, page([1, 1, 2], of));
        setFragmentHost(undefined);
        expect(await renderPage(container, page([1, 1, 2], of))).toBe(reference);
        setFragmentHost(host);
        expect(await renderPage(container, page([1, 1, 2], of), host)).toBe(reference);
      }
      expect(notes).toEqual([
        'src/H.astro: it emits a "directive" render instruction (decided per page)',
        'src/T.astro: it uses view transition directives (numbered per page)',
      ]);
      expect(host.counts.rendered).toBe(0);
    } finally {
      setFragmentHost(undefined);
    }
  });

  it('a Reuse inside a reused component renders in place within the outer fragment', async () => {
    const reference = await renderPage(container, page([1, 2, 1], Outer));
    const host = new FragmentHost(config('shared'), () => {});
    setFragmentHost(host);
    try {
      expect(await renderPage(container, page([1, 2, 1], Outer), host)).toBe(reference);
      expect(host.counts).toMatchObject({ rendered: 2, reused: 1 });
    } finally {
      setFragmentHost(undefined);
    }
  });

  it('pages the host does not own (another request) render in place', async () => {
    const host = new FragmentHost(config('thread'), () => {});
    setFragmentHost(host);
    try {
      const html = await renderPage(container, page([1, 2]));
      expect(html).not.toContain('<!--pcf');
      expect(host.counts.rendered).toBe(0);
    } finally {
      setFragmentHost(undefined);
    }
  });

  it('rejects props that cannot be a key, children, and a missing component, with the prop named', async () => {
    const bad = (props: Record<string, unknown>, slots?: Record<string, unknown>) =>
      container.renderToString(component((result) => render`${reuse(result, props, slots)}`, 'src/pages/bad.astro'));
    await expect(bad({ of: Card, row: 1, cache: new Map() })).rejects.toThrow(
      /<Reuse of=\{Card\}>: prop "cache" is an object of class Map/,
    );
    await expect(bad({ of: Card, row: 1, opts: { on: [1, () => 1] } })).rejects.toThrow(
      /prop "opts\.on\[1\]" is function/,
    );
    await expect(bad({ of: Card, row: 1 }, { default: () => render`x` })).rejects.toThrow(/takes no children/);
    await expect(bad({ row: 1 })).rejects.toThrow(/"of" must be a component/);
  });
});

describe('fragment keys', () => {
  it('are canonical JSON of the props: key order does not matter, values do', () => {
    expect(reuseKey({ b: 1, a: 'x' }, 'C')).toBe(reuseKey({ a: 'x', b: 1 }, 'C'));
    expect(reuseKey({ a: { y: [1, null], x: true } }, 'C')).toBe(reuseKey({ a: { x: true, y: [1, null] } }, 'C'));
    const distinct = [
      {},
      { a: undefined },
      { a: null },
      { a: 0 },
      { a: -0 },
      { a: '0' },
      { a: false },
      { a: [] },
      { a: {} },
      { a: NaN },
    ];
    expect(new Set(distinct.map((p) => reuseKey(p as Record<string, unknown>, 'C'))).size).toBe(distinct.length);
    // The one-number-prop fast path writes what the general form writes.
    expect(reuseKey({ row: 12, of: 'x' }, 'C', 'of')).toBe('{"row":12,}');
    expect(reuseKey({ 'a"b': 1.5 }, 'C')).toBe('{"a\\"b":1.5,}');
    expect(reuseKey({ row: 12, x: undefined }, 'C')).toBe('{"row":12,"x":u,}');
  });
});

describe('splicePage', () => {
  const marks = new Placeholders('0123456789abcdef');
  const enc = (s: string) => new TextEncoder().encode(s);
  const segments = [enc('<p>詩 one</p>'), enc(''), enc('<p>two</p>')];
  const source = {
    segmentLength: (id: number) => segments[id].byteLength,
    copySegment: (id: number, out: Uint8Array, at: number) => out.set(segments[id], at),
  };

  it('replaces every placeholder by its segment and returns a page without placeholders as it is', () => {
    const page = enc(`<a>${marks.text(0)}${marks.text(2)}-${marks.text(1)}${marks.text(0)}</a>`);
    const out = splicePage(page, marks, source);
    expect(Buffer.from(out).toString()).toBe('<a><p>詩 one</p><p>two</p>-<p>詩 one</p></a>');
    expect(out.byteLength).toBe(out.buffer.byteLength);
    const plain = enc('<p>no fragments <!--pcf0123--></p>');
    expect(splicePage(plain, marks, source)).toBe(plain);
  });

  it('fails on a malformed placeholder and on an unknown id', () => {
    expect(() => splicePage(enc(`${marks.text(0).slice(0, -3)}`), marks, source)).toThrow(/malformed/);
    const thread = new FragmentHost(config('thread'), () => {});
    expect(() => splicePage(enc(marks.text(5)), marks, thread.store)).toThrow(/names no stored fragment/);
  });
});

describe('shared fragment table across worker threads', () => {
  type Result = { spliced: string; counts: { rendered: number; reused: number }; expected: string };
  async function run(keys: number): Promise<{ captured: number[]; results: Result[] }> {
    const { Worker } = await import('node:worker_threads');
    const captures = new SharedArrayBuffer(keys * 4);
    const start = new SharedArrayBuffer(4);
    const cfg = config('shared', createSharedFragments(Math.min(keys, 2500)));
    const results = await Promise.all(
      [1, 2, 3, 4].map(
        (seed) =>
          new Promise<Result>((resolve, reject) => {
            const workerData = { config: cfg, keys, captures, seed, start };
            const w = new Worker(new URL('./fixtures/fragment-worker.ts', import.meta.url), { workerData });
            w.once('message', (m) => {
              resolve(m);
              void w.terminate();
            });
            w.once('error', reject);
          }),
      ),
    );
    for (const r of results) expect(r.spliced).toBe(r.expected);
    return { captured: [...new Int32Array(captures)], results };
  }

  it('renders every key once among 4 threads claiming them at once; every thread splices the same bytes', async () => {
    const { captured, results } = await run(400);
    expect(captured).toEqual(new Array(400).fill(1));
    expect(results.reduce((s, r) => s + r.counts.rendered, 0)).toBe(400);
    for (const r of results) expect(r.counts.rendered + r.counts.reused).toBe(400);
  }, 60_000);

  it('keeps keys beyond a half-full table per thread, still correct', async () => {
    // createSharedFragments(2500) has 8192 slots; 6000 keys overflow it.
    const { captured } = await run(6000);
    expect(captured.every((n) => n >= 1 && n <= 4)).toBe(true);
    expect(captured.filter((n) => n === 1).length).toBeGreaterThanOrEqual(4096);
    expect(captured.filter((n) => n > 1).length).toBeGreaterThan(0);
  }, 60_000);
});

describe('fragments belong to one cache version and one build', () => {
  it('a cache file replaced or touched is another identity; a thread that mapped another gets no host', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fragments-identity-'));
    try {
      const file = join(dir, 'poems.cache');
      writeFileSync(file, 'v1');
      const first = cacheIdentity(file);
      expect(cacheIdentity(file)).toBe(first);
      writeFileSync(join(dir, 'next'), 'v1');
      renameSync(join(dir, 'next'), file); // a new conversion: same bytes, new inode
      const renamed = cacheIdentity(file);
      expect(renamed).not.toBe(first);
      utimesSync(file, new Date(), new Date(Date.now() + 5000));
      expect(cacheIdentity(file)).not.toBe(renamed);

      const notes: string[] = [];
      const note = (m: string) => notes.push(m);
      const thread = 'render thread 7';
      const stale = installFragmentHost({ ...config('thread'), identity: first }, cacheIdentity(file), thread, note);
      expect(stale).toBeUndefined();
      expect(notes).toEqual([
        `fragments off in render thread 7: its cache (${file}) is not the one this build's ` +
          'fragments belong to (it changed since the build started)',
      ]);
      // Without a host, pages render every <Reuse> in place.
      const container = await AstroContainer.create();
      expect(await renderPage(container, page([1, 1]))).not.toContain('<!--pcf');
      const now = cacheIdentity(file);
      const fresh = installFragmentHost({ ...config('thread'), identity: now }, now, thread, note);
      expect(fresh).toBeInstanceOf(FragmentHost);
      setFragmentHost(undefined);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("placeholders of another build (another token) are not this build's: left as they are", () => {
    const ours = new Placeholders('0123456789abcdef');
    const theirs = new Placeholders('fedcba9876543210');
    const page = new TextEncoder().encode(`<p>${theirs.text(0)}</p>`);
    expect(splicePage(page, ours, { segmentLength: () => 1, copySegment: () => {} })).toBe(page);
  });
});
