// Fails when proto/gen differs from what `buf generate` makes of the .proto files now (stale or hand-edited).
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const root = path.join(__dirname, '..');
const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'kantoor-proto-'));
const bin = (name) => path.join(root, 'node_modules', '.bin', name);
execFileSync(bin('buf'), ['lint'], { cwd: root, stdio: 'inherit' });
fs.cpSync(root, scratch, {
  recursive: true,
  filter: (src) => !src.includes('node_modules') && !src.includes(`${path.sep}gen`) && !src.includes(`${path.sep}dist`),
});
execFileSync(bin('buf'), ['generate'], {
  cwd: scratch,
  stdio: 'inherit',
  env: { ...process.env, PATH: `${path.dirname(bin('buf'))}${path.delimiter}${process.env.PATH}` },
});
execFileSync('node', [path.join(scratch, 'scripts', 'write-index.js')], { cwd: scratch });

const list = (dir) => {
  const out = [];
  (function walk(d) {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const f = path.join(d, e.name);
      if (e.isDirectory()) walk(f);
      else out.push(path.relative(dir, f));
    }
  })(dir);
  return out.sort();
};
const expected = list(path.join(scratch, 'gen'));
const actual = fs.existsSync(path.join(root, 'gen')) ? list(path.join(root, 'gen')) : [];
const problems = [];
for (const file of new Set([...expected, ...actual])) {
  const want = expected.includes(file) ? fs.readFileSync(path.join(scratch, 'gen', file), 'utf8') : null;
  const have = actual.includes(file) ? fs.readFileSync(path.join(root, 'gen', file), 'utf8') : null;
  if (want !== have)
    problems.push(want === null ? `unexpected ${file}` : have === null ? `missing ${file}` : `stale ${file}`);
}
fs.rmSync(scratch, { recursive: true, force: true });
if (problems.length > 0) {
  console.error(
    `proto/gen is not what the .proto files generate; run \`pnpm proto:generate\` and commit:\n  ${problems.join('\n  ')}`,
  );
  process.exit(1);
}
console.log(`proto/gen is up to date (${expected.length} files)`);
