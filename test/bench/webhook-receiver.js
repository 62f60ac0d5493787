/**
 * A partner's webhook receiver for notification.bench.js, in a process of its own (so that its CPU is not the
 * service's): node:http on 127.0.0.1, every request's Standard Webhooks signature checked with the standard's own
 * library (`standardwebhooks`, not the service's signer), the secret chosen by the request's path.
 *
 * Paths `/<run>/<n>` answer 204, except for the run `flaky`: its paths answer 500 to the first attempt of each
 * delivery (the first request with its `webhook-id`) and 204 to the ones after.
 *
 * IPC: started with fork(); says `{ port }` once listening. `{ secrets: { path: secret } }` adds secrets (answer:
 * `{ secretsTaken }`); `{ counts: true }` is answered with `{ counts: { <run>: {...} } }`, for each run: requests,
 * badSignatures (a wrong or missing signature, or a timestamp off by more than 5 minutes), answered500, deliveries
 * (distinct `webhook-id`s) and surplus (requests beyond one per delivery, two in the run `flaky`: copies).
 */
const http = require('node:http');
const path = require('node:path');

const { Webhook } = require(
  require.resolve('standardwebhooks', { paths: [path.join(__dirname, '..', '..', 'services', 'notification')] }),
);

/** path → the Webhook that verifies with its secret */
const verifiers = new Map();
/** run name → what it received */
const runs = new Map();

const server = http.createServer((request, response) => {
  const chunks = [];
  request.on('data', (chunk) => chunks.push(chunk));
  request.on('end', () => {
    const body = Buffer.concat(chunks).toString('utf8');
    const name = request.url.split('/')[1];
    if (!runs.has(name)) runs.set(name, { requests: 0, badSignatures: 0, answered500: 0, attemptsOf: new Map() });
    const run = runs.get(name);
    run.requests++;
    const verifier = verifiers.get(request.url);
    try {
      if (!verifier) throw new Error(`no secret for ${request.url}`);
      verifier.verify(body, {
        'webhook-id': request.headers['webhook-id'],
        'webhook-timestamp': request.headers['webhook-timestamp'],
        'webhook-signature': request.headers['webhook-signature'],
      });
    } catch {
      run.badSignatures++;
    }
    const id = String(request.headers['webhook-id']);
    const attempt = (run.attemptsOf.get(id) ?? 0) + 1;
    run.attemptsOf.set(id, attempt);
    if (name === 'flaky' && attempt === 1) {
      run.answered500++;
      response.writeHead(500, { 'content-type': 'text/plain' });
      response.end('not now');
    } else {
      response.writeHead(204);
      response.end();
    }
  });
});

function countsOf(run, attemptsPerDelivery) {
  let surplus = 0;
  for (const attempts of run.attemptsOf.values()) surplus += Math.max(0, attempts - attemptsPerDelivery);
  return {
    requests: run.requests,
    badSignatures: run.badSignatures,
    answered500: run.answered500,
    deliveries: run.attemptsOf.size,
    surplus,
  };
}

process.on('message', (message) => {
  if (message.secrets) {
    for (const [where, secret] of Object.entries(message.secrets)) verifiers.set(where, new Webhook(secret));
    process.send({ secretsTaken: Object.keys(message.secrets).length });
  }
  if (message.counts) {
    const counts = {};
    for (const [name, run] of runs) counts[name] = countsOf(run, name === 'flaky' ? 2 : 1);
    process.send({ counts });
  }
});
process.on('disconnect', () => {
  server.closeAllConnections();
  server.close(() => process.exit(0));
});

server.listen(0, '127.0.0.1', () => process.send({ port: server.address().port }));
