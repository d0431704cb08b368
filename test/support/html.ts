// Just enough HTML reading for tests of pages we generate ourselves: start tags with attributes, entities.
export interface Tag {
  name: string;
  attrs: Record<string, string>;
  /** Offset of '<' in the document. */
  at: number;
  /** Offset just after '>'. */
  end: number;
}

const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", nbsp: '\u00a0' };

export function decode(s: string): string {
  return s.replace(/&(#x[0-9a-f]+|#\d+|[a-z]+);/gi, (m, e: string) => {
    if (e[0] === '#')
      return String.fromCodePoint(e[1] === 'x' || e[1] === 'X' ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10));
    return ENTITIES[e.toLowerCase()] ?? m;
  });
}

/** All start tags named `name` (lowercase) in document order. */
export function tags(html: string, name: string): Tag[] {
  const out: Tag[] = [];
  const re = new RegExp(`<${name}(?=[\\s>/])([^>]*)>`, 'g');
  for (let m: RegExpExecArray | null; (m = re.exec(html)); ) {
    const attrs: Record<string, string> = {};
    const ar = /([^\s=/]+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+)))?/g;
    for (let a: RegExpExecArray | null; (a = ar.exec(m[1])); )
      attrs[a[1].toLowerCase()] = decode(a[2] ?? a[3] ?? a[4] ?? '');
    out.push({ name, attrs, at: m.index, end: m.index + m[0].length });
  }
  return out;
}

/** The inner HTML of the element whose start tag is `t` (no nesting of the same element name inside). */
export function inner(html: string, t: Tag): string {
  const close = html.indexOf(`</${t.name}>`, t.end);
  if (close < 0) throw new Error(`unclosed <${t.name}> at ${t.at}`);
  return html.slice(t.end, close);
}

/** Text content: tags dropped, entities decoded. */
export const text = (fragment: string): string => decode(fragment.replace(/<[^>]*>/g, ''));

/** A poem's text as the page shows it: one <span class="line"> per line, joined with newlines. */
export function poemText(html: string, from: number): string {
  const start = html.indexOf('<div class="poem-text">', from);
  if (start < 0) throw new Error(`no poem text after offset ${from}`);
  const end = html.indexOf('</div>', start);
  const lines = [...html.slice(start, end).matchAll(/<span class="line">([\s\S]*?)<\/span>/g)].map((m) => text(m[1]));
  return lines.join('\n');
}
