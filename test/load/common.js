// Shared by the k6 load scripts (https://k6.io): where the gateway is and how a script gets its token.
//   KANTOOR_URL       the gateway, default http://localhost:8080 (the embedded platform)
//   KANTOOR_TOKEN     a bearer token (cluster mode: one from the firm's OpenID Connect issuer), or else
//   KANTOOR_EMAIL and KANTOOR_PASSWORD, a staff login (embedded mode: data/demo-login.json has the demo admin's)
import http from 'k6/http';
import { fail } from 'k6';

export const BASE = (__ENV.KANTOOR_URL || 'http://localhost:8080').replace(/\/$/, '');

/** the bearer token the virtual users share (called from setup(), once per run) */
export function token() {
  if (__ENV.KANTOOR_TOKEN) return __ENV.KANTOOR_TOKEN;
  if (!__ENV.KANTOOR_EMAIL || !__ENV.KANTOOR_PASSWORD)
    fail('set KANTOOR_TOKEN, or KANTOOR_EMAIL and KANTOOR_PASSWORD (embedded: see data/demo-login.json)');
  const response = http.post(
    `${BASE}/v1/auth/login`,
    JSON.stringify({ email: __ENV.KANTOOR_EMAIL, password: __ENV.KANTOOR_PASSWORD }),
    { headers: { 'content-type': 'application/json' }, tags: { name: 'POST /v1/auth/login' } },
  );
  if (response.status !== 200) fail(`login: ${response.status} ${response.body}`);
  return response.json('accessToken');
}

export const authorised = (accessToken, headers = {}) => ({ ...headers, authorization: `Bearer ${accessToken}` });

/** the dossier a script loads; it must exist and the user must be allowed to upload into and download from it */
export function dossierId() {
  if (!__ENV.KANTOOR_DOSSIER_ID) fail('set KANTOOR_DOSSIER_ID to a dossier the user may upload into and download');
  return __ENV.KANTOOR_DOSSIER_ID;
}

/**
 * A valid one-page PDF of `size` bytes (ASCII only, so that its string is its bytes): the filler is a content
 * stream of comment lines, different per `seed`, so that no two uploads are the same file.
 */
export function pdfOfSize(size, seed) {
  const head = '%PDF-1.4\n';
  const objects = [
    '<< /Type /Catalog /Pages 2 0 R >>',
    '<< /Type /Pages /Kids [3 0 R] /Count 1 >>',
    '<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R >>',
  ];
  const line = `% kantoor load ${seed} ${'x'.repeat(40)}\n`;
  const filler = line.repeat(Math.max(0, Math.floor((size - 600) / line.length)));
  let body = head;
  const offsets = [];
  objects.forEach((object, i) => {
    offsets.push(body.length);
    body += `${i + 1} 0 obj\n${object}\nendobj\n`;
  });
  offsets.push(body.length);
  body += `4 0 obj\n<< /Length ${filler.length} >>\nstream\n${filler}\nendstream\nendobj\n`;
  const xref = body.length;
  const table = offsets.map((at) => `${String(at).padStart(10, '0')} 00000 n \n`).join('');
  return `${body}xref\n0 5\n0000000000 65535 f \n${table}trailer\n<< /Size 5 /Root 1 0 R >>\nstartxref\n${xref}\n%%EOF\n`;
}
