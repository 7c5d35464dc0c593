/**
 * Which assets an operator's note is about when it does not say. Two sources, matched case-insensitively
 * as whole words in the text:
 * - the plant's alias table (every name the operators use for an asset, its id included);
 * - the plant's asset ids themselves, in the forms operators write them: the id's letters and number with
 *   any separator or none and leading zeros dropped ("pump-0007": "Pump 7", "PUMP-07", "pump7"), and a
 *   single letter written tight to the number ("P07", "P-07", "p_7") for the one asset of that number whose
 *   letters start with it. A looser reading ("p 7", "pressure 7") would name assets in ordinary sentences.
 * Where matches overlap, the longest wins (so "pump 7 inlet valve" beats "pump 7"). Every asset named is
 * returned, in the order the text names them (a note about two pumps goes to both); none: a plant-level note.
 */
export type AliasTable = Record<string, Record<string, string>>;

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

interface Match {
  start: number;
  end: number;
  asset: string;
}

/** An asset id's letters and number ("pump-0007" → pump, 7), or null when it is not letters then a number. */
function idParts(id: string): { word: string; num: number } | null {
  const m = /^([a-z]+)[\s._#-]*(\d+)$/i.exec(id);
  return m ? { word: m[1].toLowerCase(), num: Number(m[2]) } : null;
}

/** Matches of the plant's asset ids written as operators write them. */
function idMatches(hay: string, assets: Iterable<string>): Match[] {
  const byNum = new Map<number, Array<{ word: string; asset: string }>>();
  for (const asset of assets) {
    const p = idParts(asset);
    if (!p) continue;
    const list = byNum.get(p.num) ?? [];
    list.push({ word: p.word, asset });
    byNum.set(p.num, list);
  }
  if (!byNum.size) return [];
  const out: Match[] = [];
  const mention = /(^|[^a-z0-9])([a-z]+)([\s._#-]*)(\d+)(?![a-z0-9])/g;
  for (let m = mention.exec(hay); m; m = mention.exec(hay)) {
    const [, lead, word, sep, digits] = m;
    const candidates = byNum.get(Number(digits));
    if (!candidates) continue;
    const start = m.index + lead.length,
      end = start + word.length + sep.length + digits.length;
    const exact = candidates.filter((c) => c.word === word);
    // A single letter tight to the number (no space) abbreviates the one asset of that number it starts.
    const abbreviated =
      word.length === 1 && !/\s/.test(sep) ? candidates.filter((c) => c.word.startsWith(word)) : [];
    const hit =
      exact.length === 1 ? exact[0] : exact.length === 0 && abbreviated.length === 1 ? abbreviated[0] : null;
    if (hit) out.push({ start, end, asset: hit.asset });
  }
  return out;
}

export function resolveNoteAssets(
  plant: string,
  text: string,
  aliases: AliasTable,
  assets: Iterable<string> = [],
): string[] {
  const hay = text.toLowerCase();
  const matches: Match[] = [];
  for (const [alias, asset] of Object.entries(aliases[plant] ?? {})) {
    const re = new RegExp(`(^|[^a-z0-9])(${escape(alias.toLowerCase())})(?=$|[^a-z0-9])`, 'g');
    for (let m = re.exec(hay); m; m = re.exec(hay)) {
      const start = m.index + m[1].length;
      matches.push({ start, end: start + m[2].length, asset });
      re.lastIndex = start + 1;
    }
  }
  matches.push(...idMatches(hay, assets));
  // The longest first; a match inside a longer one is part of that one.
  matches.sort((a, b) => b.end - b.start - (a.end - a.start) || a.start - b.start);
  const kept: Match[] = [];
  for (const m of matches) if (!kept.some((k) => m.start >= k.start && m.end <= k.end)) kept.push(m);
  kept.sort((a, b) => a.start - b.start);
  return [...new Set(kept.map((m) => m.asset))];
}

/** The first asset a note names (see resolveNoteAssets), or null. */
export function resolveNoteAsset(
  plant: string,
  text: string,
  aliases: AliasTable,
  assets: Iterable<string> = [],
): string | null {
  return resolveNoteAssets(plant, text, aliases, assets)[0] ?? null;
}
