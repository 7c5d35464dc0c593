/** Name patterns of the configuration (rule and webhook filters: `pump-*`), and which modality a contribution names. */
import type { Modality } from './records.js';

/** A name pattern's limits, checked where rules and endpoints are made (a 400 naming the field). */
export const MAX_PATTERN_CHARS = 128,
  MAX_PATTERN_STARS = 8;

/**
 * Whether a `*` pattern matches the whole value, in time linear in the value for each segment: the parts
 * between stars must appear in order, the first at the start and the last at the end, and taking each
 * part at its leftmost place is always right for `*`-only patterns. No regular expression (a pattern of
 * many stars made the old one backtrack for minutes).
 */
export function matchesPattern(pattern: string, value: string): boolean {
  if (!pattern.includes('*')) return pattern === value;
  const parts = pattern.split('*');
  const first = parts[0],
    last = parts[parts.length - 1];
  if (value.length < first.length + last.length || !value.startsWith(first) || !value.endsWith(last))
    return false;
  let at = first.length;
  const end = value.length - last.length;
  for (let i = 1; i < parts.length - 1; i++) {
    if (!parts[i]) continue;
    const k = value.indexOf(parts[i], at);
    if (k < 0 || k + parts[i].length > end) return false;
    at = k + parts[i].length;
  }
  return true;
}

/** True when no patterns are given, or one matches the whole value (`*` matches anything). */
export function matchesAny(patterns: readonly string[] | undefined, value: string): boolean {
  return !patterns?.length || patterns.some((p) => matchesPattern(p, value));
}

/** The modality of a contribution's channel: `image` and `notes` are the camera's and the notes'. */
export const modalityOfChannel = (channel: string): Modality =>
  channel === 'image' ? 'images' : channel === 'notes' ? 'notes' : 'sensors';
