import { errorCode, syncDirectory } from './folder-files';

interface Turn {
  running?: Promise<void>;
  next?: Promise<void>;
}

/**
 * Group commit of folder entries: concurrent writers in one folder share its fsync. A call resolves once an
 * fsync of the folder that started after the call has finished, so it covers every entry made before the call.
 * At most one fsync per folder runs; the callers that arrive meanwhile wait together for the next one.
 */
export class DirectorySync {
  private readonly turns = new Map<string, Turn>();

  sync(directory: string): Promise<void> {
    let turn = this.turns.get(directory);
    if (!turn) {
      turn = {};
      this.turns.set(directory, turn);
    }
    if (turn.next) return turn.next;
    if (!turn.running) return this.start(directory, turn);
    const queued = turn;
    queued.next = queued
      .running!.catch(() => undefined)
      .then(() => {
        queued.next = undefined;
        return this.start(directory, queued);
      });
    return queued.next;
  }

  private start(directory: string, turn: Turn): Promise<void> {
    const running = syncDirectory(directory)
      .catch((error: unknown) => {
        // the folder was pruned after its last entry was removed: nothing in it is left to bring to disk
        if (errorCode(error) !== 'ENOENT') throw error;
      })
      .finally(() => {
        turn.running = undefined;
        if (!turn.next && this.turns.get(directory) === turn) this.turns.delete(directory);
      });
    turn.running = running;
    return running;
  }
}
