/** hoodiecrow-imap (a scriptable IMAP server for tests) ships no types: what the tests use of it. */
declare module 'hoodiecrow-imap' {
  import type { Server } from 'node:net';

  interface HoodiecrowOptions {
    plugins?: string[];
    users?: Record<string, HoodiecrowUser>;
    storage?: Record<string, unknown>;
    debug?: boolean;
  }

  interface HoodiecrowUser {
    password?: string;
    /** the access token XOAUTH2 takes (plugins SASL-IR and XOAUTH2) */
    xoauth2?: { accessToken: string };
  }

  interface HoodiecrowServer {
    server: Server;
    /** the users it knows, changeable while it runs */
    users: Record<string, HoodiecrowUser>;
    listen(port: number, host: string, callback: () => void): void;
    close(callback: () => void): void;
  }

  export default function hoodiecrow(options: HoodiecrowOptions): HoodiecrowServer;
}
