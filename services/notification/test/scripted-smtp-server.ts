/**
 * An SMTP server that misbehaves on cue, for the failure tests: per received mail it follows the next step of
 * its plan (the last step repeats): accept, answer 451 or 550, or drop the connection right after the data,
 * which leaves the sender unsure whether the mail arrived. It keeps every mail it was sent, whatever it answered.
 */
import net, { type AddressInfo } from 'node:net';

export type Step = 'accept' | 'drop' | '451' | '550';

export interface ScriptedSmtpServer {
  port: number;
  /** every mail transmitted, with the step that answered it */
  transmitted: Array<{ step: Step; raw: string }>;
  accepted(): string[];
  stop(): Promise<void>;
}

export async function startScriptedSmtpServer(
  plan: Step[],
  options: { greetingDelayMs?: number } = {},
): Promise<ScriptedSmtpServer> {
  const transmitted: ScriptedSmtpServer['transmitted'] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    let buffer = '';
    let inData = false;
    const greet = setTimeout(
      () => socket.writable && socket.write('220 scripted ESMTP\r\n'),
      options.greetingDelayMs ?? 0,
    );
    socket.on('close', () => clearTimeout(greet));
    socket.on('data', (chunk) => {
      buffer += chunk.toString('utf8');
      for (;;) {
        if (inData) {
          const end = buffer.indexOf('\r\n.\r\n');
          if (end < 0) return;
          const raw = buffer.slice(0, end);
          buffer = buffer.slice(end + 5);
          inData = false;
          const step = plan[Math.min(transmitted.length, plan.length - 1)];
          transmitted.push({ step, raw });
          if (step === 'drop') return void socket.destroy();
          socket.write(
            step === 'accept'
              ? '250 2.0.0 accepted\r\n'
              : step === '451'
                ? '451 4.3.0 try again later\r\n'
                : '550 5.1.1 mailbox unavailable\r\n',
          );
          continue;
        }
        const newline = buffer.indexOf('\r\n');
        if (newline < 0) return;
        const line = buffer.slice(0, newline);
        buffer = buffer.slice(newline + 2);
        const verb = line.slice(0, 4).toUpperCase();
        if (verb === 'EHLO' || verb === 'HELO') socket.write('250 scripted\r\n');
        else if (verb === 'DATA') {
          inData = true;
          socket.write('354 go ahead\r\n');
        } else if (verb === 'QUIT') socket.end('221 bye\r\n');
        else socket.write('250 ok\r\n');
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    transmitted,
    accepted: () => transmitted.filter((mail) => mail.step === 'accept').map((mail) => mail.raw),
    async stop() {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/** A port on which nothing listens: connecting is refused. */
export async function refusingPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

export const messageIdOf = (raw: string): string | undefined => /^Message-ID:\s*(<[^>]+>)/im.exec(raw)?.[1];
