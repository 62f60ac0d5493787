import type { Logger } from '@kantoor/logging';

export interface Closer {
  name: string;
  close: () => Promise<void> | void;
}

/**
 * Graceful shutdown in one place: readiness turns off first (so no new work is routed here), then what
 * was started is closed in reverse order (servers drain their requests before the consumers and the
 * database they use are closed). A second signal, or the timeout, ends the process at once.
 */
export class Lifecycle {
  private readonly closers: Closer[] = [];
  private readonly readinessListeners: Array<(ready: boolean) => void> = [];
  private shuttingDown: Promise<void> | undefined;
  ready = false;

  constructor(
    private readonly logger: Logger,
    private readonly timeoutMs = 15_000,
  ) {}

  /** Registers something to close at shutdown; closed in reverse order of registration. */
  onShutdown(name: string, close: Closer['close']): void {
    this.closers.push({ name, close });
  }

  onReadinessChange(listener: (ready: boolean) => void): void {
    this.readinessListeners.push(listener);
  }

  setReady(ready: boolean): void {
    this.ready = ready;
    for (const listener of this.readinessListeners) listener(ready);
  }

  get isShuttingDown(): boolean {
    return this.shuttingDown !== undefined;
  }

  shutdown(reason = 'requested'): Promise<void> {
    this.shuttingDown ??= this.runShutdown(reason);
    return this.shuttingDown;
  }

  private async runShutdown(reason: string): Promise<void> {
    this.logger.info({ reason }, 'shutting down');
    this.setReady(false);
    const timer = setTimeout(() => {
      this.logger.error({ timeoutMs: this.timeoutMs }, 'shutdown took too long; exiting');
      process.exit(1);
    }, this.timeoutMs);
    timer.unref();
    for (const closer of [...this.closers].reverse()) {
      try {
        await closer.close();
      } catch (error) {
        this.logger.error({ err: error, component: closer.name }, 'closing failed');
      }
    }
    clearTimeout(timer);
    this.logger.info('stopped');
  }

  /** SIGTERM (Kubernetes) and SIGINT (Ctrl-C) shut down gracefully; a second one exits immediately. */
  installSignalHandlers(exit: (code: number) => void = (code) => process.exit(code)): void {
    const onSignal = (signal: NodeJS.Signals) => {
      if (this.shuttingDown) {
        this.logger.warn({ signal }, 'second signal: exiting now');
        exit(130);
        return;
      }
      void this.shutdown(signal).then(() => exit(0));
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  }
}
