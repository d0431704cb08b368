// The inputs of a conversion, named once: poems.json defines the poems; the other three name them.
export const INPUT_ROLES = ['poems', 'embeddings', 'similarity', 'diversity'] as const;
export type InputRole = (typeof INPUT_ROLES)[number];

/** The inputs that refer to poems of poems.json, each read in its own way (keys: id, index, index0). */
export const KEYED_ROLES = ['embeddings', 'similarity', 'diversity'] as const;
export type KeyedRole = (typeof KEYED_ROLES)[number];

/** The file names the pipeline gives them. */
export const PIPELINE_FILES: Record<InputRole, string> = {
  poems: 'poems.json',
  embeddings: 'embeddings.json',
  similarity: 'similarity_rankings_cache.json',
  diversity: 'diversity_cache.json',
};
