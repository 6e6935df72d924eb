// Builds the web phone: src/app.js bundled with JsSIP from node_modules (esbuild, minified), plus index.html and
// style.css copied as they are. Into dist/ by default (`npm run build`, served with `[web] phone_dir`), or into the
// directory given by `--out DIR` (`npm run build -- --out DIR`: crates/sipedged/build.rs embeds that build).
import { build } from 'esbuild';
import { copyFile, mkdir, rm } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const here = dirname(fileURLToPath(import.meta.url));
const { values } = parseArgs({ options: { out: { type: 'string' } } });
const dist = values.out ? resolve(values.out) : join(here, 'dist');
await rm(dist, { recursive: true, force: true });
await mkdir(dist, { recursive: true });
await build({
  entryPoints: [join(here, 'src/app.js')],
  bundle: true,
  minify: true,
  format: 'iife',
  platform: 'browser',
  target: 'chrome111',
  charset: 'utf8',
  outfile: join(dist, 'app.js'),
  logLevel: 'warning',
});
for (const file of ['index.html', 'style.css']) await copyFile(join(here, 'src', file), join(dist, file));
console.log(`web phone built into ${dist}`);
