/** The dashboard page: one static file (api/dashboard/index.html), read once, found from source or from dist/. */
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const candidates = [
  new URL('./dashboard/index.html', import.meta.url),
  new URL('../../api/dashboard/index.html', import.meta.url),
].map((u) => fileURLToPath(u));
const file = candidates.find((f) => existsSync(f));
if (!file) throw new Error(`dashboard page not found (looked in ${candidates.join(', ')})`);
export const DASHBOARD_HTML = readFileSync(file, 'utf8');
