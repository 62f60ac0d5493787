/**
 * gRPC puts a 5-byte header (compressed flag, length) in front of every message, and grpc-js does it by copying
 * the serialised message into a new buffer, on both sides: the client's identity-encoding handler (writeMessage) and the
 * server's BaseServerInterceptingCall.serializeMessage. For the chunks of a file stream (up to 256 KiB each)
 * that copy is a second fresh allocation per chunk, after the encoding's own: for a 1 MB upload 1 MB more
 * garbage in the gateway, and as much per MB of every download in the service.
 *
 * Here the chunk encoder leaves the 5 bytes free in front of the message it allocates (`withRoomForFrame`), and
 * those two grpc-js methods are wrapped so that such a message gets its header written there and goes out
 * without a copy. Every other message, and every message when a call compresses, takes grpc-js's own path. The
 * wrapping is installed once, when this module loads; if grpc-js ever lacks one of the methods it leaves that
 * side alone (`inPlaceFraming` says which sides are wrapped), and messages are framed by copy as before.
 */

const FRAME_HEADER_BYTES = 5;

/**
 * Marks a message whose buffer has FRAME_HEADER_BYTES free, ours, right before it. A property on the message
 * rather than a WeakSet: a WeakSet taking and dropping a chunk per message grows and compacts its table, and V8
 * keeps an outgrown table as it was; once in the old generation such a table can keep the chunks it held (up to
 * 256 KiB each) alive until a full collection, as measured for the Maps and Sets in young-calls.ts. (Not measured
 * on its own: the document-intake bench measured it together with the other changes of that commit.)
 */
const ROOM_FOR_FRAME = Symbol('room for the gRPC frame header');
type Roomy = Buffer & { [ROOM_FOR_FRAME]?: boolean };

/**
 * A buffer of `length` bytes to encode a message into, with room for its gRPC frame header in front; the bytes
 * of that room are written only when grpc-js sends the message.
 */
export function withRoomForFrame(length: number): Buffer {
  const framed = Buffer.allocUnsafe(FRAME_HEADER_BYTES + length);
  const message: Roomy = framed.subarray(FRAME_HEADER_BYTES);
  message[ROOM_FOR_FRAME] = true;
  return message;
}

/** The framed message (header + message) in the message's own memory, or undefined when there is no room. */
export function frameInPlace(message: Buffer): Buffer | undefined {
  if ((message as Roomy)[ROOM_FOR_FRAME] !== true) return undefined;
  // sent once: a second send of the same buffer gets the copying path
  (message as Roomy)[ROOM_FOR_FRAME] = false;
  const framed = Buffer.from(
    message.buffer,
    message.byteOffset - FRAME_HEADER_BYTES,
    message.length + FRAME_HEADER_BYTES,
  );
  framed.writeUInt8(0, 0);
  framed.writeUInt32BE(message.length, 1);
  return framed;
}

/** grpc-js's handler of the identity ("no compression") encoding, which frames a message by copying it */
interface IdentityHandler {
  writeMessage(message: Buffer, compress: boolean): Promise<Buffer>;
}

interface ServerCall {
  handler: { serialize(value: unknown): Buffer };
  serializeMessage(value: unknown): Buffer;
}

/** Which sides frame in place; both are true with the grpc-js version this was written for (1.14). */
export const inPlaceFraming = { client: false, server: false };

function install() {
  let filters: { CompressionFilter?: new (options: object, shared: object) => { sendCompression?: object } } = {};
  let calls: { BaseServerInterceptingCall?: { prototype: ServerCall } } = {};
  try {
    filters = require('@grpc/grpc-js/build/src/compression-filter');
    calls = require('@grpc/grpc-js/build/src/server-interceptors');
  } catch {
    return;
  }

  // the handler's class is not exported; a filter made with default options starts with one
  let identity: IdentityHandler | undefined;
  try {
    const sample = filters.CompressionFilter && new filters.CompressionFilter({}, {}).sendCompression;
    identity = sample && (Object.getPrototypeOf(sample) as IdentityHandler);
  } catch {
    identity = undefined;
  }
  const copyingWrite = identity?.writeMessage;
  if (identity && typeof copyingWrite === 'function') {
    // below the filter's own checks (maximum message size); no extra step for a message that is copied
    identity.writeMessage = function writeMessage(this: IdentityHandler, message, compress) {
      const framed = frameInPlace(message);
      return framed ? Promise.resolve(framed) : copyingWrite.call(this, message, compress);
    };
    inPlaceFraming.client = true;
  }

  const call = calls.BaseServerInterceptingCall?.prototype;
  const copyingSerialize = call?.serializeMessage;
  if (call && typeof copyingSerialize === 'function') {
    call.serializeMessage = function serializeMessage(this: ServerCall, value: unknown) {
      const message = this.handler.serialize(value);
      const framed = frameInPlace(message);
      if (framed) return framed;
      // grpc-js's own framing (server responses are never compressed)
      const output = Buffer.allocUnsafe(message.byteLength + FRAME_HEADER_BYTES);
      output.writeUInt8(0, 0);
      output.writeUInt32BE(message.byteLength, 1);
      message.copy(output, FRAME_HEADER_BYTES);
      return output;
    };
    inPlaceFraming.server = true;
  }
}

install();
