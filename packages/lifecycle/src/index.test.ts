import { createLogger } from '@kantoor/logging';
import { Lifecycle } from './index';

const logger = createLogger({ service: 'test', level: 'silent' });

describe('graceful shutdown', () => {
  test('readiness goes off first, then components close in reverse order of start', async () => {
    const lifecycle = new Lifecycle(logger);
    const steps: string[] = [];
    lifecycle.onReadinessChange((ready) => steps.push(`ready=${ready}`));
    lifecycle.setReady(true);
    lifecycle.onShutdown('database', () => void steps.push('database'));
    lifecycle.onShutdown('consumers', async () => {
      await new Promise((resolve) => setTimeout(resolve, 20));
      steps.push('consumers');
    });
    lifecycle.onShutdown('grpc server', () => void steps.push('grpc server'));
    await lifecycle.shutdown();
    expect(steps).toEqual(['ready=true', 'ready=false', 'grpc server', 'consumers', 'database']);
  });

  test('a failing closer does not stop the others, and shutdown runs once', async () => {
    const lifecycle = new Lifecycle(logger);
    const closed: string[] = [];
    lifecycle.onShutdown('a', () => void closed.push('a'));
    lifecycle.onShutdown('b', () => {
      throw new Error('boom');
    });
    await Promise.all([lifecycle.shutdown(), lifecycle.shutdown()]);
    expect(closed).toEqual(['a']);
    expect(lifecycle.isShuttingDown).toBe(true);
  });
});
