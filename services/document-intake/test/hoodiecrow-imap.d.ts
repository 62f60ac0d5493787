/** hoodiecrow-imap (a scriptable IMAP server for tests) ships no types: what the tests use of it. */
declare module 'hoodiecrow-imap' {
  import type { Server } from 'node:net';

  interface HoodiecrowOptions {
    plugins?: string[];
    users?: Record<string, { password: string }>;
    storage?: Record<string, unknown>;
    debug?: boolean;
  }

  interface HoodiecrowServer {
    server: Server;
    listen(port: number, host: string, callback: () => void): void;
    close(callback: () => void): void;
  }

  export default function hoodiecrow(options: HoodiecrowOptions): HoodiecrowServer;
}
