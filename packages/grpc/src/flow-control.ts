/**
 * HTTP/2 flow-control windows of gRPC connections.
 *
 * HTTP/2 starts every stream and every connection with a window of 65,535 bytes: the sender may have that much
 * unacknowledged data in flight, then waits for the receiver's WINDOW_UPDATE. grpc-js keeps that default on both
 * sides, so a file streamed in 64 kB messages (a download from intake or the archive, an upload into intake)
 * moved about one message per round trip between the processes, and each process woke for every step of it.
 * With a 256 KiB window the intake benchmark (cluster topology, same minutes) went from 60–100 to 140–156 MB/s
 * on the ZIP download and from about 60 to 71–80 MB/s on uploads.
 *
 * The window is also the most a receiver holds of a connection's data that it has not consumed yet, so it bounds
 * memory: one connection holds at most WINDOW bytes beyond what its calls have read, however many calls share it.
 * A 1 MiB window was no faster and put the gateway and intake 20–30 MB over their 300 MB upload budget (20 uploads
 * arriving at once instead of in turn).
 */
import type { Http2Session, Http2Server } from 'node:http2';
import type { Server } from '@grpc/grpc-js';

export const FLOW_CONTROL_WINDOW = 256 * 1024;

/** The client channel option: grpc-js sets it as the stream window and widens the connection window to it. */
export const CLIENT_FLOW_CONTROL = { 'grpc-node.flow_control_window': FLOW_CONTROL_WINDOW } as const;

/** What grpc-js keeps of a server that this reaches into; checked at run time so an upgrade fails loudly. */
interface ServerInternals {
  commonServerOptions?: { settings?: Record<string, unknown> };
  http2Servers?: Map<Http2Server, unknown>;
}

/**
 * Before `bindAsync`: every stream the server accepts starts with the wide window (an HTTP/2 SETTINGS value that
 * grpc-js passes through to node:http2).
 */
export function widenServerStreamWindow(server: Server): void {
  const internals = server as unknown as ServerInternals;
  if (!internals.commonServerOptions)
    throw new Error('grpc-js Server has no commonServerOptions any more: review packages/grpc/src/flow-control.ts');
  internals.commonServerOptions.settings = {
    ...internals.commonServerOptions.settings,
    initialWindowSize: FLOW_CONTROL_WINDOW,
  };
}

/**
 * After `bindAsync`: each new connection's own window is widened too (node:http2 has no server setting for it,
 * only `Http2Session.setLocalWindowSize`).
 */
export function widenServerConnectionWindow(server: Server): void {
  const servers = (server as unknown as ServerInternals).http2Servers;
  if (!(servers instanceof Map))
    throw new Error('grpc-js Server has no http2Servers map any more: review packages/grpc/src/flow-control.ts');
  for (const http2Server of servers.keys())
    http2Server.on('session', (session: Http2Session) => {
      try {
        session.setLocalWindowSize(FLOW_CONTROL_WINDOW);
      } catch {
        // the connection closed before its window could be set: nothing to widen
      }
    });
}
