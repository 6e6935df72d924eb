// Builds the web phone into dist/: src/app.js bundled with JsSIP from node_modules (esbuild, minified), plus
// index.html and style.css copied as they are. sipedged serves dist/ at /phone/ ([web] phone_dir).
import { build } from 'esbuild';
import { copyFile, mkdir, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const dist = join(here, 'dist');
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
