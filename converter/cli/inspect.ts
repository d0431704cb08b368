// poem-cache inspect FILE [--json]: the header, the section table, row and list counts, the poem fields, how
// each input named poems, and the metadata the converter stored.
import { resolve } from 'node:path';
import { RAGGED_HAS_SCORES, SectionKind, SectionName } from '../../cache/layout.ts';
import type { ParsedCache } from '../../cache/validate.ts';
import { oneFile, oneLine, parse, PROG, type CliIO } from './common.ts';
import { fmtBytes, fmtInt, kindName, table } from './format.ts';
import { parseImage } from './image.ts';

interface ListCounts {
  lists: number;
  values: number;
  minLength: number;
  maxLength: number;
  scores: boolean;
}

function describe(path: string, bytes: Uint8Array, parsed: ParsedCache) {
  const ids = parsed.sections.find((s) => s.name === SectionName.ids && s.kind === SectionKind.ids);
  const emb = parsed.sections.find((s) => s.name === SectionName.embeddings && s.kind === SectionKind.matrix);
  const lists: Record<string, ListCounts> = {};
  const strings: Record<string, { rows: number; bytes: number }> = {};
  for (const s of parsed.sections) {
    if (!s.known) continue;
    if (s.kind === SectionKind.ragged) {
      const lengths = new Uint32Array(bytes.buffer, bytes.byteOffset + s.parts.lengths.offset, s.count);
      let min = s.count ? Infinity : 0;
      let max = 0;
      for (let r = 0; r < s.count; r++) {
        if (lengths[r] < min) min = lengths[r];
        if (lengths[r] > max) max = lengths[r];
      }
      const scores = Boolean(s.flags & RAGGED_HAS_SCORES);
      lists[s.name] = { lists: s.count, values: s.param, minLength: min, maxLength: max, scores };
    } else if (s.kind === SectionKind.strings) {
      strings[s.name] = { rows: s.count, bytes: s.param };
    }
  }
  let metadata: unknown = null;
  let metadataError: string | undefined;
  const meta = parsed.sections.find((s) => s.name === SectionName.meta && s.kind === SectionKind.json);
  if (meta) {
    try {
      const json = bytes.subarray(meta.parts.bytes.offset, meta.parts.bytes.offset + meta.count);
      metadata = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(json));
    } catch (e) {
      metadataError = `the "${SectionName.meta}" section is not UTF-8 JSON (${oneLine(e)})`;
    }
  }
  return {
    file: resolve(path),
    size: bytes.byteLength,
    format: { major: parsed.header.major, minor: parsed.header.minor },
    header: {
      flags: parsed.header.flags,
      sectionCount: parsed.header.sectionCount,
      headerChecksum: parsed.header.headerChecksum,
      tableChecksum: parsed.header.tableChecksum,
    },
    sections: parsed.sections.map((s) => ({
      name: s.name,
      kind: kindName(s.kind),
      kindCode: s.kind,
      known: s.known,
      flags: s.flags,
      count: s.count,
      param: s.param,
      param2: s.param2,
      bytes: s.byteLength,
      offset: s.offset,
      checksum: s.checksum,
    })),
    counts: { rows: ids ? ids.count : 0, dim: emb ? emb.param : 0, lists, strings },
    metadata,
    ...(metadataError ? { metadataError } : {}),
  };
}

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The poem fields the converter recorded (meta.fields: path -> section, value types); [] when none or unreadable. */
function fieldsOf(metadata: unknown): { path: string; section: string; types: Json }[] {
  const fields = isObject(metadata) ? metadata.fields : undefined;
  if (!Array.isArray(fields)) return [];
  return fields.filter(
    (f): f is { path: string; section: string; types: Json } =>
      isObject(f) && typeof f.path === 'string' && typeof f.section === 'string' && isObject(f.types),
  );
}

/** "21 string, 279 null": the value types a field's rows hold, in the order the converter counts them. */
function typeCounts(types: Json): string {
  const seen = Object.entries(types).filter(([, n]) => typeof n === 'number' && n > 0);
  return seen.map(([type, n]) => `${fmtInt(n as number)} ${type}`).join(', ') || 'none';
}

/** Per input: its file, size and how it named poems (meta.readings, "(auto)" when read from the data). */
function inputRows(metadata: unknown): string[][] {
  if (!isObject(metadata) || !isObject(metadata.inputs)) return [];
  const readings = isObject(metadata.readings) ? metadata.readings : {};
  const asked = isObject(metadata.settings) && isObject(metadata.settings.keys) ? metadata.settings.keys : {};
  return Object.entries(metadata.inputs).map(([role, input]) => {
    const file = isObject(input) && typeof input.file === 'string' ? input.file : '';
    const size = isObject(input) && typeof input.size === 'number' ? fmtBytes(input.size) : '';
    const reading = typeof readings[role] === 'string' ? readings[role] : '';
    const auto = asked[role] === undefined || asked[role] === 'auto';
    return [role, file, size, reading && `${reading}${auto ? ' (auto)' : ''}`];
  });
}

export async function inspect(args: string[], io: CliIO): Promise<number> {
  const { values, positionals } = parse('inspect', args, { json: { type: 'boolean' } }, true);
  const path = oneFile('inspect', positionals);
  const { bytes, parsed } = await parseImage(path);
  const d = describe(path, bytes, parsed);
  if (d.metadataError) io.stderr.write(`${PROG}: warning: ${path}: ${d.metadataError}\n`);
  if (values.json) {
    io.stdout.write(`${JSON.stringify(d, null, 2)}\n`);
    return 0;
  }
  const o: string[] = [];
  o.push(`${d.file}\n`);
  o.push(
    `format ${d.format.major}.${d.format.minor}, ${fmtBytes(d.size)} (${fmtInt(d.size)} bytes), ` +
      `${d.sections.length} sections\n\n`,
  );
  o.push(
    table(
      [
        ['section', 'kind', 'count', 'param', 'bytes', 'offset'],
        ...d.sections.map((s) => [
          s.name,
          s.known ? s.kind : `${s.kind} (skipped)`,
          fmtInt(s.count),
          fmtInt(s.param),
          fmtBytes(s.bytes),
          fmtInt(s.offset),
        ]),
      ],
      [false, false, true, true, true, true],
    ),
  );
  o.push(`\nrows: ${fmtInt(d.counts.rows)}\n`);
  o.push(`embedding dimension: ${d.counts.dim || 'none'}\n`);
  for (const [name, l] of Object.entries(d.counts.lists)) {
    const same = l.minLength === l.maxLength;
    const lengths = same ? fmtInt(l.minLength) : `${fmtInt(l.minLength)}..${fmtInt(l.maxLength)}`;
    o.push(`${name}: ${fmtInt(l.values)} values, ${lengths} per row${l.scores ? ', with scores' : ''}\n`);
  }
  // field sections are named field.0, field.1, ...: the fields table says which path each holds
  const fields = fieldsOf(d.metadata).filter((f) => d.counts.strings[f.section]);
  const tabled = new Set(fields.map((f) => f.section));
  for (const [name, s] of Object.entries(d.counts.strings)) {
    if (!tabled.has(name)) o.push(`${name}: ${fmtBytes(s.bytes)} of text\n`);
  }
  if (fields.length) {
    o.push(`\nfields (a poem's values by dotted path):\n`);
    o.push(
      indent(
        table(
          [
            ['path', 'section', 'text', 'values'],
            ...fields.map((f) => [f.path, f.section, fmtBytes(d.counts.strings[f.section].bytes), typeCounts(f.types)]),
          ],
          [false, false, true, false],
        ),
      ),
    );
  }
  const inputs = inputRows(d.metadata);
  if (inputs.length) {
    o.push(`\ninputs:\n`);
    o.push(indent(table([['input', 'file', 'size', 'names poems by'], ...inputs], [false, false, true, false])));
  }
  o.push(`\nmetadata: ${d.metadata === null ? 'none' : JSON.stringify(d.metadata, null, 2)}\n`);
  io.stdout.write(o.join(''));
  return 0;
}

const indent = (text: string) => text.replace(/^(?=.)/gm, '  ');
