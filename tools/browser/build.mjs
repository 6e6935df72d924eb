// Bundles the two browser clients (src/*.js) with their SIP stacks from node_modules into dist/.
import { build } from 'esbuild';

for (const name of ['jssip', 'sipjs']) {
  await build({
    entryPoints: [`src/${name}-client.js`],
    bundle: true,
    format: 'iife',
    platform: 'browser',
    target: 'chrome120',
    outfile: `dist/${name}-client.js`,
    logLevel: 'warning',
  });
}
console.log('browser clients built into dist/');
