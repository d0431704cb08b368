// The "metadata" object every input carries: kept as it is (it goes into the cache's meta section); the
// numeric fields named in `checks` are validated where they stand, so their errors point at them.
import type { JsonSource } from './json-source.ts';

export function readMeta(src: JsonSource, checks: Record<string, (v: number) => void>): Record<string, unknown> {
  if (src.peek() !== 'object') src.fail(`unexpected ${src.peek()}`, 'a "metadata" object');
  src.beginObject('a "metadata" object');
  const meta: Record<string, unknown> = {};
  for (let k = src.nextKey(); k !== null; k = src.nextKey()) {
    const check = Object.hasOwn(checks, k) ? checks[k] : undefined;
    if (check) {
      if (src.peek() !== 'number') src.readNumber(`a non-negative integer for metadata.${k}`);
      const v = src.readNumber(`a non-negative integer for metadata.${k}`);
      if (!Number.isInteger(v) || v < 0) src.fail(`metadata.${k} is ${v}`, 'a non-negative integer');
      check(v);
      meta[k] = v;
    } else if (k === '__proto__') {
      Object.defineProperty(meta, k, { value: src.readValue(), enumerable: true, writable: true, configurable: true });
    } else meta[k] = src.readValue();
  }
  return meta;
}
