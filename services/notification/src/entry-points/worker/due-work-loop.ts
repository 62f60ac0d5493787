import type { Logger } from '@kantoor/logging';

/** How long a partial round lets further work gather before the next claim. */
const GATHER_MS = 25;

export interface DueWorkLoopOptions {
  logger: Logger;
  pollMs: number;
  /**
   * One round: claims due work and sends it (or starts sending it). `taken`: how much it claimed; `room`: how much it
   * could have claimed (0 when it is busy to the brim and waits for work in flight to end).
   */
  takeDue: () => Promise<{ taken: number; room: number }>;
  /** logged when a round fails (the database is away): the loop tries again at the next poll */
  failure: string;
}

/**
 * The polling loop of the mail and webhook workers. A full round: more is likely due, claim again at once. A partial
 * one while events keep coming: let the next work gather for a moment rather than paying a claim per item (wakes do
 * not cut this short). Nothing due, or no room: sleep until woken (new work was queued, work in flight ended) or the
 * next poll.
 */
export class DueWorkLoop {
  private running = false;
  private loop: Promise<void> | undefined;
  private wakeUp: (() => void) | undefined;
  /** a wake that came while a round was running: the next sleep is skipped */
  private woken = false;

  constructor(private readonly options: DueWorkLoopOptions) {}

  start(): void {
    if (this.running) return;
    this.running = true;
    this.loop = this.run();
  }

  wake(): void {
    if (this.wakeUp) this.wakeUp();
    else this.woken = true;
  }

  /** Ends the loop once its round in flight is over. */
  async stop(): Promise<void> {
    this.running = false;
    this.wakeUp?.();
    await this.loop;
  }

  private async run(): Promise<void> {
    while (this.running) {
      let round = { taken: 0, room: 1 };
      try {
        round = await this.options.takeDue();
      } catch (error) {
        this.options.logger.error({ err: error }, this.options.failure);
      }
      if (!this.running) break;
      if (round.room > 0 && round.taken >= round.room) continue;
      const partial = round.taken > 0;
      await this.pause(partial ? Math.min(GATHER_MS, this.options.pollMs) : this.options.pollMs, !partial);
    }
  }

  private async pause(ms: number, wakeable: boolean): Promise<void> {
    if (wakeable && this.woken) {
      this.woken = false;
      return;
    }
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      if (wakeable) {
        this.wakeUp = () => {
          clearTimeout(timer);
          resolve();
        };
      }
    });
    this.wakeUp = undefined;
    this.woken = false;
  }
}
