/**
 * The node flags the platform really runs with, so that a benchmark starts its processes the same way:
 * `pnpm start` / `pnpm run embedded` (the flags before the script in package.json's "embedded" script) and
 * each image (NODE_OPTIONS in its Dockerfile).
 */
const { readFileSync } = require('node:fs');
const path = require('node:path');

const ROOT = path.join(__dirname, '..', '..');

/** e.g. ['--max-semi-space-size=2'] from `node --max-semi-space-size=2 deploy/embedded/dist/main.js` */
function embeddedNodeFlags() {
  const script = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')).scripts.embedded;
  const words = script.trim().split(/\s+/);
  if (words[0] !== 'node') throw new Error(`package.json's embedded script does not start with node: ${script}`);
  return words.slice(1).filter((word) => word.startsWith('-'));
}

/** NODE_OPTIONS of the image of `component` (gateway or a service name) */
function imageNodeOptions(component) {
  const dockerfile = component === 'gateway' ? 'gateway/Dockerfile' : `services/${component}/Dockerfile`;
  const text = readFileSync(path.join(ROOT, dockerfile), 'utf8');
  const match = /NODE_OPTIONS="([^"]*)"|NODE_OPTIONS=(\S+)/.exec(text);
  return match ? (match[1] ?? match[2]) : '';
}

module.exports = { embeddedNodeFlags, imageNodeOptions };
