/**
 * Byte streams as gRPC messages of `size` bytes (the last one shorter): small reads joined, large ones cut, so
 * every message is full. Used on both sides of the streaming upload and download RPCs.
 */
export async function* coalesced(source: AsyncIterable<Uint8Array>, size: number): AsyncIterable<Uint8Array> {
  let pending: Uint8Array[] = [];
  let pendingBytes = 0;
  for await (const chunk of source) {
    for (let at = 0; at < chunk.length;) {
      const piece = chunk.subarray(at, at + size - pendingBytes);
      at += piece.length;
      if (pendingBytes === 0 && piece.length === size) {
        yield piece;
        continue;
      }
      pending.push(piece);
      pendingBytes += piece.length;
      if (pendingBytes === size) {
        yield Buffer.concat(pending, pendingBytes);
        pending = [];
        pendingBytes = 0;
      }
    }
  }
  if (pendingBytes > 0) yield pending.length === 1 ? pending[0] : Buffer.concat(pending, pendingBytes);
}

/**
 * Byte streams as gRPC messages as the bytes arrive, only cut to at most `size` bytes: no copy. For a source
 * whose reads are already of a useful size (an HTTP request body arrives in reads of up to 64 KiB).
 */
export async function* atMost(source: AsyncIterable<Uint8Array>, size: number): AsyncIterable<Uint8Array> {
  for await (const chunk of source)
    for (let at = 0; at < chunk.length; at += size)
      yield at === 0 && chunk.length <= size ? chunk : chunk.subarray(at, at + size);
}
