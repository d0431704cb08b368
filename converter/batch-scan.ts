// The structural scan behind ByteSource.nextBatch (source.ts): where a buffered object or array ends, found by
// jumping between the structural bytes with indexOf (strings skipped whole), and how many object keys a text
// holds (fewer keys in the parsed values than in the text means a duplicate key: read it the precise way).

/**
 * matchClose over one buffer, remembering the next '"', '{', '}', '[', ']' found at or after the scan
 * position across calls (a batch's elements are scanned one after another). Positions are buffer indices:
 * `generation` changes whenever the buffer is refilled, which makes them all unknown again.
 */
export class BracketScan {
  // next '"', '{', '}', '[', ']' (end when none buffered; < position: unknown)
  private nq = -1;
  private nob = -1;
  private ncb = -1;
  private nos = -1;
  private ncs = -1;
  private generation = -1;
  /** Keys (strings followed by ':') seen by the last matchClose. */
  keys = 0;

  /**
   * End (exclusive) of the object or array starting at buf[s], or -1 when it is not complete in buf[0, end).
   * Strings are skipped with indexOf; only the structural bytes between them are looked at. Mismatched
   * brackets are left to JSON.parse. Counts keys into `keys`.
   */
  matchClose(buf: Buffer, end: number, s: number, generation: number): number {
    if (generation !== this.generation) {
      this.nq = this.nob = this.ncb = this.nos = this.ncs = -1;
      this.generation = generation;
    }
    let depth = 0;
    let keys = 0;
    let p = s;
    let nq = this.nq,
      nob = this.nob,
      ncb = this.ncb,
      nos = this.nos,
      ncs = this.ncs;
    for (;;) {
      if (nq < p) {
        nq = buf.indexOf(0x22, p);
        if (nq < 0 || nq > end) nq = end;
      }
      if (nob < p) {
        nob = buf.indexOf(0x7b, p);
        if (nob < 0 || nob > end) nob = end;
      }
      if (ncb < p) {
        ncb = buf.indexOf(0x7d, p);
        if (ncb < 0 || ncb > end) ncb = end;
      }
      if (nos < p) {
        nos = buf.indexOf(0x5b, p);
        if (nos < 0 || nos > end) nos = end;
      }
      if (ncs < p) {
        ncs = buf.indexOf(0x5d, p);
        if (ncs < 0 || ncs > end) ncs = end;
      }
      let m = nq;
      if (nob < m) m = nob;
      if (ncb < m) m = ncb;
      if (nos < m) m = nos;
      if (ncs < m) m = ncs;
      if (m >= end) {
        p = -1;
        break;
      }
      if (m === nq) {
        let q = buf.indexOf(0x22, m + 1);
        for (;;) {
          if (q < 0 || q >= end) break;
          let k = q - 1;
          while (buf[k] === 0x5c) k--;
          if (((q - 1 - k) & 1) === 0) break;
          q = buf.indexOf(0x22, q + 1);
        }
        if (q < 0 || q >= end) {
          p = -1;
          break;
        }
        p = q + 1;
        let c = buf[p];
        let r = p;
        while (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) c = buf[++r];
        if (c === 0x3a && r < end) keys++;
        continue;
      }
      p = m + 1;
      if (m === nob || m === nos) depth++;
      else if (--depth === 0) break;
    }
    this.nq = nq;
    this.nob = nob;
    this.ncb = ncb;
    this.nos = nos;
    this.ncs = ncs;
    this.keys = keys;
    return p;
  }
}

/**
 * Object keys in a JSON text: colons after an unescaped quote (and whitespace). Never fewer than the real
 * keys; more only when a string starts with ':', which callers treat like duplicate keys (the precise way).
 */
export function countKeys(text: string): number {
  let keys = 0;
  for (let q = text.indexOf(':'); q !== -1; q = text.indexOf(':', q + 1)) {
    let k = q - 1;
    let c = text.charCodeAt(k);
    while (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) c = text.charCodeAt(--k);
    if (c !== 0x22) continue;
    let j = k - 1;
    while (text.charCodeAt(j) === 0x5c) j--;
    if (((k - 1 - j) & 1) === 0) keys++;
  }
  return keys;
}
