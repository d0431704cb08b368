// Poem fields: any scalar of a poem object, named by its dotted path ("content_warning",
// "metadata.is_golden_poem"), stored per row in the cache and read with CacheReader#field(name, row).

/** Always stored: what the pipeline's own pages show (file path header, content warning, golden and boost marks). */
export const DEFAULT_FIELDS = [
  'filepath',
  'content_warning',
  'metadata.is_golden_poem',
  'metadata.is_boost',
  'metadata.original_uri',
  'metadata.source_file',
] as const;

/** Why a path cannot name a field, or undefined when it can. */
export function fieldPathProblem(path: unknown): string | undefined {
  if (typeof path !== 'string') return `expected a dotted path string, got ${path === null ? 'null' : typeof path}`;
  if (path === '' || path.split('.').some((seg) => seg === ''))
    return `"${path}" has an empty segment (expected e.g. "metadata.author")`;
  return undefined;
}

/** The fields a conversion stores: the defaults, then the requested ones not among them, in order. */
export function fieldList(requested: readonly string[] = []): string[] {
  return [...new Set<string>([...DEFAULT_FIELDS, ...requested])];
}
