#!/usr/bin/env node
/**
 * Runs a k6 load script in plain Node, its k6 modules replaced by recorders, and prints what it did as JSON:
 *   node test/load/k6-double/run.mjs <script.js> '{"env": {...}, "steps": ["setup", "default", ...]}'
 * → {"options": …, "sent": [{method, url, body, headers, tags}], "error": "…" (a k6 fail() or other throw)}
 * Each step is `setup` (its result becomes the data) or `default` (called with the data), as k6 calls them.
 * Requests answer 200 (201 for a POST other than the login), and the login's `accessToken` is
 * "token-from-login". load-scripts.test.ts runs it in a process of its own: Node loads the script as k6
 * would, an ES module, and no jest VM module is involved.
 */
import { register } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const [script, planJson] = process.argv.slice(2);
const { env = {}, steps = [] } = JSON.parse(planJson ?? '{}');

const sent = [];
const respond = (request) => {
  sent.push(request);
  const status = request.url.endsWith('/v1/auth/login') ? 200 : request.method === 'POST' ? 201 : 200;
  return { status, body: '{}', json: (field) => (field === 'accessToken' ? 'token-from-login' : {}) };
};
class K6Failure extends Error {}
let iteration = 0;
globalThis.__ENV = env;
globalThis.k6Double = {
  http: {
    get: (url, params = {}) => respond({ method: 'GET', url, headers: params.headers ?? {}, tags: params.tags }),
    post: (url, body, params = {}) =>
      respond({ method: 'POST', url, body, headers: params.headers ?? {}, tags: params.tags }),
  },
  k6: {
    check: (value, checks) => Object.values(checks).every((predicate) => predicate(value)),
    fail: (message) => {
      throw new K6Failure(message);
    },
  },
  execution: {
    scenario: {
      get iterationInTest() {
        return iteration++;
      },
    },
  },
};

register('./hooks.mjs', import.meta.url);
const module = await import(pathToFileURL(path.resolve(script)).href);
let data;
let error;
try {
  for (const step of steps) {
    if (step === 'setup') data = module.setup();
    else if (step === 'default') module.default(data);
    else throw new Error(`unknown step ${step}`);
  }
} catch (thrown) {
  if (!(thrown instanceof K6Failure)) throw thrown;
  error = thrown.message;
}
process.stdout.write(JSON.stringify({ options: module.options, sent, error }));
