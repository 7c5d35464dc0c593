/** Name patterns of the configuration (rule and webhook filters: `pump-*`), and which modality a contribution names. */
import type { Modality } from './records.js';

const compiled = new Map<string, RegExp>();
/** True when no patterns are given, or one matches the whole value (`*` matches anything). */
export function matchesAny(patterns: readonly string[] | undefined, value: string): boolean {
  if (!patterns?.length) return true;
  return patterns.some((p) => {
    let re = compiled.get(p);
    if (!re) compiled.set(p, (re = new RegExp(`^${p.split('*').map((x) => x.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`)));
    return re.test(value);
  });
}

/** The modality of a contribution's channel: `image` and `notes` are the camera's and the notes'. */
export const modalityOfChannel = (channel: string): Modality => (channel === 'image' ? 'images' : channel === 'notes' ? 'notes' : 'sensors');
