/**
 * Which asset an operator's note is about when it does not say: the plant's alias table (every name the
 * operators use for an asset, its id included), matched case-insensitively as whole words in the text.
 * The longest matching alias wins (so "pump 7 inlet valve" beats "pump 7"); no match: a plant-level note.
 */
export type AliasTable = Record<string, Record<string, string>>;

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

export function resolveNoteAsset(plant: string, text: string, aliases: AliasTable): string | null {
  const table = aliases[plant];
  if (!table) return null;
  const hay = text.toLowerCase();
  let best: { alias: string; asset: string } | null = null;
  for (const [alias, asset] of Object.entries(table)) {
    const a = alias.toLowerCase();
    if (!new RegExp(`(^|[^a-z0-9])${escape(a)}($|[^a-z0-9])`).test(hay)) continue;
    if (!best || a.length > best.alias.length) best = { alias: a, asset };
  }
  return best?.asset ?? null;
}
