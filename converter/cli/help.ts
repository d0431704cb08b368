// The help texts: poem-cache --help, and each command's --help.
import { DEFAULT_FIELDS } from '../fields.ts';
import { PROG } from './common.ts';

export const HELP: Record<string, string> = {
  global: `Usage: ${PROG} <command> [options]

Commands:
  convert   convert the pipeline's JSON caches into one binary cache file
  inspect   print a cache file's header, sections, counts and metadata
  verify    check a cache file: structure, section checksums, references, strings, numbers
  query     print one poem's title, most similar poems and diversity sequence

Options:
  -h, --help      help (also: ${PROG} <command> --help)
  -v, --version   print the version

Exit codes: 0 ok, 1 failure (bad data, missing file, verify problems), 2 usage error.
`,
  convert: `Usage: ${PROG} convert --poems FILE --out FILE [options]

Converts poems.json plus any of embeddings.json, similarity_rankings_cache.json and diversity_cache.json
into one binary cache. Skips the work ("up to date") when the output was built from the same inputs.

Options:
  --poems FILE        poems.json: {"poems":[{"id","content","category","filepath","metadata":{...}}]} (required);
                      a poem is its position: poem_index 1, 2, ... (ids may repeat across categories)
  --embeddings FILE   embeddings.json:
                      {"metadata":{"embedding_dimension"},"embeddings":[{"poem_index","id","embedding"}]}
  --similarity FILE   similarity_rankings_cache.json: {"rankings":{"<poem_index>":[poem_index, most similar first]}}
  --diversity FILE    diversity_cache.json: {"sequences":{"<position>":[positions, the poem itself first]}}
  --out FILE          the cache file to write (required)
  --embeddings-keys R, --similarity-keys R, --diversity-keys R
                      how that file names poems: auto (default: read from the data, and said), id (the poems'
                      "id"), index (1-based poem_index) or index0 (0-based position); config key "keys":
                      {"similarity": "index", ...}
  --fields A,B        poem fields to store besides the defaults (${DEFAULT_FIELDS.join(', ')}): dotted
                      paths to scalars, e.g. metadata.author,raw_content; config key "fields": ["..."]
  --force             rebuild even when the output is up to date
  --workers N         parser worker threads (0: parse on the main thread; default: the converter's choice)
  --parser NAME       auto (default) or stream-json
  --config FILE.json  the same keys as JSON ({"poems": "...", "out": "...", "force": true, ...});
                      relative paths are relative to the config file; flags override it
  --quiet             print nothing but errors
  --max-file-bytes N, --max-poems N, --max-dimension N, --max-list-length N
                      limits (defaults 8 GiB, 10,000,000, 65,536, 10,000,000); config key "limits":
                      {"maxFileBytes": N, "maxPoems": N, "maxDimension": N, "maxListLength": N}
  --on-mismatch MODE  error (default) or warn: when an input disagrees with poems.json (unknown or
                      missing ids, counts), warn once per file and convert a reconciled copy
  -h, --help          this help

Two conversions of the same --out run one at a time (lock file OUT.lock); the second finds the output
up to date. Temp and spool files of killed conversions are removed by the next one.

Progress goes to stderr: one updating line on a terminal, a plain line every ~2 s otherwise.
`,
  inspect: `Usage: ${PROG} inspect FILE [--json]

Prints the format version, file size, every section (name, kind, count, param, bytes, offset), row and
list counts, the poem fields (dotted path, section, value types), each input's file and how it names
poems, and the metadata the converter stored.

Options:
  --json       machine-readable output
  -h, --help   this help
`,
  verify: `Usage: ${PROG} verify FILE

Checks the header and section table, every section checksum, that every similar/diversity value is a
valid row and every diversity list starts with its own row, that the id index agrees with the ids, that
strings are valid UTF-8, that embeddings and scores are finite and that the metadata is JSON.
Prints OK, or each problem (to stderr) and exits 1.

Options:
  -h, --help   this help
`,
  query: `Usage: ${PROG} query FILE (--index N | --id N) [--k 10] [--json]

Prints a poem (its poem_index, id, file path, title), its top-k most similar poems (scores when the cache
has them) and the first k poems of its diversity sequence.

Options:
  --index N    the poem_index: the poem's 1-based position in poems.json
  --id N       the poem id (refused when several poems have it: ids restart per category)
  --k K        how many neighbours to show (default 10)
  --json       machine-readable output
  -h, --help   this help
`,
};
