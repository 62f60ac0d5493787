// Issue 5's budget: the accountant's ZIP download of a dossier's sent documents (about 1 GB for 2,000 documents)
// at least 100 MB/s. The dossier needs sent documents: upload with document-upload.js and send them first.
//   k6 run -e KANTOOR_DOSSIER_ID=… -e KANTOOR_EMAIL=… -e KANTOOR_PASSWORD=… test/load/dossier-zip.js
import http from 'k6/http';
import { check } from 'k6';
import { BASE, authorised, dossierId, token } from './common.js';

export const options = {
  // k6 would keep each body in memory; only its size counts here
  discardResponseBodies: true,
  scenarios: { zip: { executor: 'per-vu-iterations', vus: 1, iterations: 1, maxDuration: '10m' } },
  thresholds: {
    // bytes per second received over the run
    data_received: [`rate>=${100 * 1024 * 1024}`],
    http_req_failed: ['rate<0.001'],
  },
};

export const setup = () => ({ accessToken: token(), dossier: dossierId() });

export default function ({ accessToken, dossier }) {
  const response = http.get(`${BASE}/v1/dossiers/${dossier}/documents-zip`, {
    headers: authorised(accessToken),
    tags: { name: 'GET documents-zip' },
    timeout: '10m',
  });
  check(response, { 'the ZIP is downloaded': (r) => r.status === 200 });
}
