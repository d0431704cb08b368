// Text of generated poems and posts: words, lines, stanzas, prose, links, and the oddities real exports carry
// (mojibake, invisible characters, a stray NUL). Everything is drawn from a seeded Rand.
import { between, pick, type Rand } from './random.ts';

const WORDS = (
  'moon river stone light shadow wind autumn spring winter summer mountain valley silence echo ember ' +
  'harbor lantern willow sparrow meadow thunder petal ash frost dawn dusk orchard candle ferry bell ' +
  'horizon salt rain cloud field road window door letter memory hunger mercy grief sorrow laughter ' +
  'old young slow bright dark cold warm hollow golden silver quiet restless distant tender broken wild ' +
  'walks waits falls rises burns sings remembers forgets carries gathers leaves returns wanders breaks ' +
  'under over beyond between through across against toward within beside the a my your our their ' +
  'and but or yet so still again never always once only'
).split(' ');
// Non-ASCII words: UTF-8 of 2, 3 and 4 bytes, typographic apostrophes (mojibake turns them into â€™),
// emoji with a zero-width joiner (U+200D, which dkjson escapes) and with a variation selector (which it does not).
const RARE_WORDS = [
  'café',
  'naïve',
  'Æther',
  'façade',
  'élan',
  'Škoda',
  '淡月',
  '春眠',
  '山河',
  'мир',
  'λόγος',
  '🌙',
  '—',
  'don’t',
  'it’s',
  '“home”',
  '🥰',
  '👩‍💻',
  '❤️',
  '…',
];
const CONTENT_WARNINGS = [
  'Math',
  'politics-mentioned',
  'cursed',
  'death',
  'violence',
  'mental health',
  'food',
  'alcohol',
  'long post',
  'self-harm mention',
  'grief',
  'eye contact',
  'lewd (words only)',
  'spiders',
];
const HOSTS = ['tech.example', 'mastodon.example', 'social.example.org', 'plush.example', 'mathstodon.example'];
const HANDLES = ['whiskeyyogurt', 'agatha', 'postulate', 'alfredohno', 'getuponceaday', 'mx_lantern', 'ferryman'];
const TAGS = ['poetry', 'gamedesign', 'music', 'introduction', 'writing', 'nature'];
const FILES = ['image.png', 'graveside.mp3', 'IMG_2041.jpg', 'notes.txt', 'recording.m4a'];
/** Characters dkjson writes as \u escapes (or \t, \r): one of them goes into a few posts. */
export const INVISIBLES = [
  '\u0000',
  '\t',
  '\r',
  '\u001b',
  '\u007f',
  '\u0085',
  '\u00ad',
  '\u200c',
  '\u200e',
  '\u2028',
  '\u2029',
  '\u202f',
  '\u2060',
  '\u2066',
  '\ufeff',
  '\ufff9',
  '\u0601',
  '\u070f',
  '\u17b4',
];

export function word(rand: Rand): string {
  return rand() < 0.02 ? pick(rand, RARE_WORDS) : pick(rand, WORDS);
}

const capital = (s: string) => s[0].toUpperCase() + s.slice(1);

export function line(rand: Rand, min: number, max: number): string {
  const n = between(rand, min, max);
  const ws: string[] = [];
  for (let i = 0; i < n; i++) ws.push(word(rand));
  let s = capital(ws.join(' '));
  const r = rand();
  if (r < 0.15) s += ',';
  else if (r < 0.2) s += '.';
  else if (r < 0.22)
    s = `"${s}"`; // escaped quotes in JSON
  else if (r < 0.23) s += ' \\'; // a backslash: escaped again
  return s;
}

/** A poem: stanzas of lines, stanzas separated by a blank line. */
export function poem(rand: Rand): string {
  const stanzas = 1 + Math.floor(rand() * (rand() < 0.1 ? 12 : 4));
  const text: string[] = [];
  for (let s = 0; s < stanzas; s++) {
    const block: string[] = [];
    for (let l = 0, lines = between(rand, 2, 7); l < lines; l++) block.push(line(rand, 3, 9));
    text.push(block.join('\n'));
  }
  return text.join('\n\n');
}

/** Prose: paragraphs of sentences, separated by blank lines. */
export function prose(rand: Rand, paragraphs: number): string {
  const out: string[] = [];
  for (let p = 0; p < paragraphs; p++) {
    const sentences: string[] = [];
    for (let s = 0, k = between(rand, 2, 8); s < k; s++) sentences.push(`${line(rand, 5, 16).replace(/[,.]$/, '')}.`);
    out.push(sentences.join(' '));
  }
  return out.join('\n\n');
}

/** Hard-wrapped at 80 columns, as notes written in a text editor are (some lines keep a trailing space). */
export function wrap80(text: string, rand: Rand): string {
  return text
    .split('\n')
    .map((para) => {
      const lines: string[] = [];
      let cur = '';
      for (const w of para.split(' ')) {
        if (cur && cur.length + 1 + w.length > 80) {
          lines.push(rand() < 0.2 ? `${cur} ` : cur);
          cur = w;
        } else {
          cur = cur ? `${cur} ${w}` : w;
        }
      }
      lines.push(cur);
      return lines.join('\n');
    })
    .join('\n');
}

export const contentWarning = (rand: Rand) => pick(rand, CONTENT_WARNINGS);
export const fileName = (rand: Rand) => pick(rand, FILES);
export const hashtag = (rand: Rand) => pick(rand, TAGS);
export const handle = (rand: Rand) => pick(rand, HANDLES);
export const host = (rand: Rand) => pick(rand, HOSTS);

const DIGITS = '0123456789';
const ALNUM = 'abcdefghijklmnopqrstuvwxyz0123456789';
const chars = (rand: Rand, set: string, n: number) =>
  Array.from({ length: n }, () => set[Math.floor(rand() * set.length)]).join('');

/** A web link as people paste them. */
export function url(rand: Rand): string {
  const r = rand();
  if (r < 0.4) return `https://www.youtube.example/watch?v=${chars(rand, ALNUM, 11)}`;
  if (r < 0.7) {
    return `https://forum.example.net/r/${word(rand).replace(/\W/g, '') || 'x'}/comments/${chars(rand, ALNUM, 6)}/`;
  }
  return `https://${host(rand)}/${chars(rand, ALNUM, 8)}?key=${chars(rand, ALNUM, 16)}&utm_source=share`;
}

/** The original post a boost points at, in the three URI styles of fediverse servers. */
export function boostUri(rand: Rand): string {
  const r = rand();
  const h = host(rand);
  if (r < 0.7) return `https://${h}/users/${handle(rand)}/statuses/11${chars(rand, DIGITS, 16)}`;
  if (r < 0.85) return `https://${h}/notes/${chars(rand, ALNUM, 16)}`;
  const hex = (n: number) => chars(rand, '0123456789abcdef', n);
  return `https://${h}/objects/${hex(8)}-${hex(4)}-${hex(4)}-${hex(4)}-${hex(12)}`;
}

/** A file name slug for a note ("the-point-of-lanterns"). */
export function slug(rand: Rand): string {
  const ws: string[] = [];
  for (let i = 0, n = between(rand, 1, 4); i < n; i++) ws.push(pick(rand, WORDS));
  return ws.join('-');
}

// ---------------------------------------------------------------- oddities

// cp1252's 0x80-0x9F; the five bytes it leaves undefined become the C1 control of the same number.
const CP1252_HIGH = '€\u0081‚ƒ„…†‡ˆ‰Š‹Œ\u008dŽ\u008f\u0090‘’“”•–—˜™š›œ\u009džŸ';

/** UTF-8 text read as cp1252 and written back as UTF-8 (🥰 → ðŸ¥°, don’t → donâ€™t). */
export function mojibake(s: string): string {
  let out = '';
  for (const b of Buffer.from(s, 'utf8')) out += b >= 0x80 && b < 0xa0 ? CP1252_HIGH[b - 0x80] : String.fromCharCode(b);
  return out;
}

/** `text` with `ch` put in at a random place (not inside a surrogate pair). */
export function insertAt(rand: Rand, text: string, ch: string): string {
  const cps = Array.from(text);
  const at = Math.floor(rand() * (cps.length + 1));
  cps.splice(at, 0, ch);
  return cps.join('');
}

/** Words as the pipeline counts them: runs of non-space bytes (C isspace: space, \t \n \v \f \r). */
export function wordCount(s: string): number {
  return s.match(/[^ \t\n\v\f\r]+/g)?.length ?? 0;
}

export const byteLength = (s: string) => Buffer.byteLength(s, 'utf8');

/** A text of exactly `bytes` UTF-8 bytes (golden poems are 1,024): poem lines, cut and padded in ASCII. */
export function exactBytes(rand: Rand, bytes: number): string {
  let s = poem(rand);
  while (byteLength(s) < bytes) s += `\n${line(rand, 3, 9)}`;
  const cps = Array.from(s);
  while (byteLength(cps.join('')) > bytes) cps.pop();
  s = cps.join('').replace(/\s+$/, '');
  while (byteLength(s) < bytes) s += '.';
  return s;
}

const HTML_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => HTML_ESCAPES[c]);

/**
 * The HTML a fediverse server stores for a post (raw_content): paragraphs in <p>, line breaks as <br />,
 * links and hashtags as anchors, the mentioned account (its real handle) as an h-card.
 */
export function postHtml(content: string, mention?: { handle: string; host: string }): string {
  const link = (u: string) => `<a href="${u}" target="_blank" rel="nofollow noopener" translate="no">${u}</a>`;
  const para = (p: string) =>
    p
      .split('\n')
      .map((l) =>
        escapeHtml(l)
          .replace(/https?:\/\/[^\s<]+/g, link)
          .replace(
            /(^|\s)#(\w+)/g,
            (_m, pre: string, tag: string) =>
              `${pre}<a href="https://tech.example/tags/${tag}" ` +
              `class="mention hashtag" rel="tag">#<span>${tag}</span></a>`,
          ),
      )
      .join('<br />');
  let html = content
    .split('\n\n')
    .map((p) => `<p>${para(p)}</p>`)
    .join('');
  if (mention) {
    const card =
      `<span class="h-card" translate="no"><a href="https://${mention.host}/@${mention.handle}" ` +
      `class="u-url mention">@<span>${mention.handle}</span></a></span>`;
    html = html.replace(/@user-\d+/, card);
  }
  return html;
}
