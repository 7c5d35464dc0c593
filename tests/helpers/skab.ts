/**
 * Where SKAB is: $SKAB_DIR, else ../shared/data/skab beside the repository (or beside the working
 * directory). It is GPL-licensed, so it is read in place and never copied into the repository.
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export function skabDir(): string {
  const candidates = [
    process.env.SKAB_DIR,
    resolve(fileURLToPath(new URL('../../', import.meta.url)), '../shared/data/skab'),
    resolve(process.cwd(), '../shared/data/skab'),
    '/work/shared/data/skab',
  ].filter((c): c is string => !!c);
  const found = candidates.find((c) => existsSync(resolve(c, 'valve1')));
  if (!found) throw new Error(`SKAB not found (set SKAB_DIR); tried ${candidates.join(', ')}`);
  return found;
}
