// The parser choice: the byte scanner (default) or stream-json (parser: 'stream-json').
import type { JsonSource } from './json-source.ts';
import { ByteSource } from './source.ts';
import { StreamJsonSource } from './stream-source.ts';

export type ParserChoice = 'auto' | 'stream-json';

export function openSource(file: string, parser: ParserChoice, chunkSize?: number): JsonSource {
  return parser === 'stream-json' ? new StreamJsonSource(file, { chunkSize }) : new ByteSource(file, { chunkSize });
}
