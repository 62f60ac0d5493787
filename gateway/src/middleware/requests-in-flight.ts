/**
 * The route handlers still running, also those whose client has already left. Closing the HTTP server waits
 * only for open connections: a client that gives up (a timeout, a closed tab, a load test ending) closes its
 * connection while its handler is still waiting for a service. Shutdown waits here for those handlers before
 * it closes the service clients and the database they use, so that none of them fails half-way on a closed
 * channel.
 */
export class RequestsInFlight {
  #running = 0;
  #waiting: Array<() => void> = [];

  get running(): number {
    return this.#running;
  }

  begin(): void {
    this.#running += 1;
  }

  end(): void {
    this.#running -= 1;
    if (this.#running === 0) for (const resolve of this.#waiting.splice(0)) resolve();
  }

  /** resolves once no handler runs */
  idle(): Promise<void> {
    return this.#running === 0 ? Promise.resolve() : new Promise((resolve) => this.#waiting.push(resolve));
  }
}
