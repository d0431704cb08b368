// The pipeline's four files, streamed (bounded memory whatever their size):
//   poems.json                      dkjson indent  {"metadata":{...},"poems":[{...},...]}
//   embeddings.json                 dkjson indent  {"metadata":{...},"embeddings":[{poem_index, id, embedding, ...}]}
//   similarity_rankings_cache.json  C fprintf      {"metadata": {...}, "rankings": {"<poem_index>": [poem_index, ...]}}
//   diversity_cache.json            dkjson compact {"metadata":{...},"sequences":{"<k>":[k,...]}} (0-based positions)
// Top-level keys, and every object's keys, come in the KeyOrder's (Lua pairs()) order.
import {
  C_RANKINGS_TAIL,
  DkjsonWriter,
  cRankingLine,
  cRankingsHead,
  type KeyOrder,
  type LuaValue,
  type RankingsMeta,
} from './format.ts';
import { Out } from './out.ts';

export const FILES = {
  poems: 'poems.json',
  embeddings: 'embeddings.json',
  similarity: 'similarity_rankings_cache.json',
  diversity: 'diversity_cache.json',
} as const;

export type LuaObject = { readonly [k: string]: LuaValue };

/** Runs `write` over an Out at `path`; a failure removes the partial file. */
async function writing(path: string, write: (out: Out) => Promise<void>): Promise<void> {
  const out = new Out(path);
  try {
    await write(out);
    await out.close();
  } catch (err) {
    await out.abort();
    throw err;
  }
}

/** A top-level {"metadata": ..., <listKey>: [...] | {...}} object, members in the KeyOrder's order. */
async function metadataAndList(
  w: DkjsonWriter,
  order: KeyOrder,
  metadata: LuaObject,
  listKey: string,
  list: () => Promise<void>,
): Promise<void> {
  w.openObject();
  for (const key of order.order(['metadata', listKey])) {
    w.key(key);
    if (key === 'metadata') w.value(metadata);
    else await list();
  }
  w.close();
}

/** poems.json: `poems(i)` is the i-th poem object (0-based; poem_index i + 1). */
export function writePoemsFile(
  path: string,
  metadata: LuaObject,
  count: number,
  poem: (i: number) => LuaObject,
  order: KeyOrder,
): Promise<void> {
  return writing(path, async (out) => {
    const w = new DkjsonWriter(out, { indent: true, order });
    await metadataAndList(w, order, metadata, 'poems', async () => {
      w.openArray();
      for (let i = 0; i < count; i++) {
        w.value(poem(i));
        await out.drain();
      }
      w.close();
    });
  });
}

/**
 * embeddings.json: `entry(i)` is the object of poem_index i + 1 (its embedding usually a RawJson of dkNumbers
 * text). Or, for entries encoded elsewhere (worker threads), `chunks` yields comma-separated encoded entries.
 */
export function writeEmbeddingsFile(
  path: string,
  metadata: LuaObject,
  order: KeyOrder,
  entries:
    | { count: number; entry: (i: number) => LuaObject }
    | { chunks: AsyncIterable<{ text: string | Uint8Array; count: number }> },
): Promise<void> {
  return writing(path, async (out) => {
    const w = new DkjsonWriter(out, { indent: true, order });
    await metadataAndList(w, order, metadata, 'embeddings', async () => {
      w.openArray();
      if ('entry' in entries) {
        for (let i = 0; i < entries.count; i++) {
          w.value(entries.entry(i));
          await out.drain();
        }
      } else {
        for await (const c of entries.chunks) {
          w.rawItems(c.text, c.count);
          await out.drain();
        }
      }
      w.close();
    });
  });
}

/** Texts of 0-based position p as a 1-based poem_index ("1", "2", ...) or as itself ("0", "1", ...). */
export const positionTexts = (n: number, base: 0 | 1): string[] =>
  Array.from({ length: n }, (_, p) => String(p + base));

/** The C rankings file, written row by row in ascending poem_index: line(p, ranking of 0-based positions). */
export class RankingsFile {
  private readonly out: Out;
  private readonly texts: string[];
  private next = 0;
  private readonly n: number;
  private constructor(path: string, meta: RankingsMeta) {
    this.out = new Out(path);
    this.n = meta.total_poems;
    this.texts = positionTexts(this.n, 1);
    this.out.write(cRankingsHead(meta));
  }
  static open(path: string, meta: RankingsMeta): RankingsFile {
    return new RankingsFile(path, meta);
  }
  /** The ranking of position p (0-based, p = 0, 1, ... in turn), values 0-based positions; written 1-based. */
  async line(p: number, ranking: ArrayLike<number>): Promise<void> {
    if (p !== this.next) throw new Error(`RankingsFile: position ${p} written out of order (expected ${this.next})`);
    this.next++;
    this.out.write(cRankingLine(p + 1, ranking, p === this.n - 1, this.texts));
    await this.out.drain();
  }
  async close(): Promise<void> {
    if (this.next !== this.n) {
      await this.out.abort();
      throw new Error(`RankingsFile: ${this.next} of ${this.n} rankings written`);
    }
    this.out.write(C_RANKINGS_TAIL);
    await this.out.close();
  }
  abort(): Promise<void> {
    return this.out.abort();
  }
}

/**
 * diversity_cache.json: compact dkjson, sequences keyed by 0-based position in the KeyOrder's order (Lua
 * pairs() over "0".."N-1"); `sequence(k)` gives k's sequence of 0-based positions (k itself first).
 */
export function writeDiversityFile(
  path: string,
  metadata: LuaObject,
  n: number,
  sequence: (k: number) => ArrayLike<number>,
  order: KeyOrder,
): Promise<void> {
  return writing(path, async (out) => {
    const w = new DkjsonWriter(out, { indent: false, order });
    const texts = positionTexts(n, 0);
    await metadataAndList(w, order, metadata, 'sequences', async () => {
      w.openObject();
      for (const key of order.order(texts)) {
        const seq = sequence(Number(key));
        const parts = new Array<string>(seq.length);
        for (let q = 0; q < seq.length; q++) parts[q] = texts[seq[q]];
        w.key(key).raw(`[${parts.join(',')}]`);
        await out.drain();
      }
      w.close();
    });
  });
}
