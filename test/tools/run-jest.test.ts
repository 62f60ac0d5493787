const { crashedFiles } = require('../../tools/run-jest.js') as {
  crashedFiles(report: { testResults: Array<{ name: string; status: string; message?: string }> }): string[];
};

describe('the test runner’s second chance', () => {
  const killed = (pid: number, signal: string) =>
    `  ● Test suite failed to run\n\n    A jest worker process (pid=${pid}) was terminated by another process: signal=${signal}, exitCode=null.`;

  test('only files whose worker was killed by a signal run again', () => {
    const report = {
      testResults: [
        { name: '/repo/a.test.ts', status: 'failed', message: killed(101, 'SIGSEGV') },
        { name: '/repo/b.test.ts', status: 'passed', message: '' },
        { name: '/repo/c.test.ts', status: 'failed', message: '  ● adds › expect(received).toBe(expected)' },
        { name: '/repo/d.test.ts', status: 'failed', message: killed(102, 'SIGBUS') },
        {
          name: '/repo/e.test.ts',
          status: 'failed',
          message: 'A jest worker process (pid=103) crashed for an unknown reason: exitCode=1',
        },
      ],
    };
    expect(crashedFiles(report)).toEqual(['/repo/a.test.ts', '/repo/d.test.ts']);
  });

  test('a report without crashes names none', () => {
    expect(crashedFiles({ testResults: [{ name: '/repo/a.test.ts', status: 'passed', message: '' }] })).toEqual([]);
  });
});
