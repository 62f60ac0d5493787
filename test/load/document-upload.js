// Issue 5's budget: 1 MB PDFs uploaded through the gateway over 20 concurrent connections, at least 50 MB/s
// (here: 50 uploads/s of 1 MB). Watch the resident memory of the gateway and intake pods meanwhile (under 300 MB).
//   k6 run -e KANTOOR_DOSSIER_ID=… -e KANTOOR_EMAIL=… -e KANTOOR_PASSWORD=… test/load/document-upload.js
import http from 'k6/http';
import { check } from 'k6';
import exec from 'k6/execution';
import { BASE, authorised, dossierId, pdfOfSize, token } from './common.js';

const MB = 1024 * 1024;

export const options = {
  scenarios: {
    uploads: { executor: 'shared-iterations', vus: 20, iterations: Number(__ENV.UPLOADS || 100), maxDuration: '5m' },
  },
  thresholds: {
    'http_reqs{name:POST documents}': ['rate>=50'],
    http_req_failed: ['rate<0.001'],
  },
};

export const setup = () => ({ accessToken: token(), dossier: dossierId() });

export default function ({ accessToken, dossier }) {
  const seed = exec.scenario.iterationInTest;
  const response = http.post(
    `${BASE}/v1/dossiers/${dossier}/documents?mailbox=purchase&fileName=load-${seed}.pdf`,
    pdfOfSize(MB, seed),
    { headers: authorised(accessToken, { 'content-type': 'application/pdf' }), tags: { name: 'POST documents' } },
  );
  check(response, { 'the PDF is stored': (r) => r.status === 201 });
}
