#!/usr/bin/env node
// Checks a dossier archive ZIP against its manifest.json, independently of the archive service: every file the
// manifest lists is in the ZIP with the listed size and SHA-256, and the ZIP holds nothing else.
// Usage: node tools/verify-archive-zip.js <archive.zip>   (prints a JSON report; exit code 1 on a problem)
'use strict';
const { execFileSync, spawn } = require('node:child_process');
const { createHash } = require('node:crypto');

const zipPath = process.argv[2];
if (!zipPath) {
  process.stderr.write('usage: verify-archive-zip.js <archive.zip>\n');
  process.exit(64);
}

const listing = execFileSync('unzip', ['-Z1', zipPath], { maxBuffer: 64 * 1024 * 1024 })
  .toString()
  .split('\n')
  .filter(Boolean);
const manifest = JSON.parse(
  execFileSync('unzip', ['-p', zipPath, 'manifest.json'], { maxBuffer: 256 * 1024 * 1024 }).toString(),
);

// unzip -p treats [ ] * ? as patterns; escape them so each name means itself
const literal = (name) => name.replace(/[[\]*?\\]/g, '\\$&');

function digest(name) {
  return new Promise((resolve, reject) => {
    const hash = createHash('sha256');
    let size = 0;
    const child = spawn('unzip', ['-p', zipPath, literal(name)]);
    child.stdout.on('data', (chunk) => {
      hash.update(chunk);
      size += chunk.length;
    });
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0
        ? resolve({ sha256: hash.digest('hex'), size })
        : reject(new Error(`unzip exited ${code} for ${name}`)),
    );
  });
}

(async () => {
  const problems = [];
  const statuses = {};
  const listed = new Set();
  for (const file of manifest.files) {
    if (file.status === 'purged') continue;
    statuses[file.status] = (statuses[file.status] || 0) + 1;
    listed.add(file.path);
    if (!listing.includes(file.path)) {
      problems.push({ path: file.path, problem: 'missing from the ZIP' });
      continue;
    }
    const found = await digest(file.path);
    if (found.sha256 !== file.sha256 || found.size !== file.size)
      problems.push({
        path: file.path,
        problem: 'checksum or size differs',
        expected: file.sha256,
        found: found.sha256,
      });
  }
  for (const name of listing)
    if (!listed.has(name) && name !== 'manifest.json' && name !== 'manifest.csv')
      problems.push({ path: name, problem: 'not in the manifest' });
  const csvRows =
    execFileSync('unzip', ['-p', zipPath, 'manifest.csv'], { maxBuffer: 256 * 1024 * 1024 })
      .toString()
      .trim()
      .split('\r\n').length - 1;
  if (csvRows !== manifest.files.length)
    problems.push({ path: 'manifest.csv', problem: `${csvRows} rows, manifest.json has ${manifest.files.length}` });
  const report = { ok: problems.length === 0, checked: listed.size, problems, statuses, paths: [...listed] };
  process.stdout.write(`${JSON.stringify(report)}\n`);
  process.exit(report.ok ? 0 : 1);
})().catch((error) => {
  process.stderr.write(`${error.stack}\n`);
  process.exit(2);
});
