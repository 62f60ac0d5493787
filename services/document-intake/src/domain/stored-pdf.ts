/**
 * An uploaded PDF as the structure check reads it after it is stored. Its first and last bytes are kept in
 * memory as they pass into the store: the trailer, the cross-references and often the catalog and page tree lie
 * there, so the check mostly reads nothing back from the store (each read there costs several file operations);
 * what lies elsewhere is read from the store by ranges. Memory stays at the two windows whatever the file's size.
 */
import type { ObjectStore, StoredObject } from '@kantoor/object-storage';
import type { PdfSource } from './file-formats';

const PDF_HEAD_BYTES = 64 * 1024;
// covers the last aligned 64 KiB block the structure reader asks for, wherever the file ends in it
const PDF_TAIL_BYTES = 128 * 1024;

/** The first and the last bytes of a stream, in two buffers of fixed size (the tail a ring). */
export class StreamEnds {
  private readonly head = Buffer.allocUnsafe(PDF_HEAD_BYTES);
  private readonly ring = Buffer.allocUnsafe(PDF_TAIL_BYTES);
  private size = 0;

  add(chunk: Buffer): void {
    if (this.size < PDF_HEAD_BYTES) chunk.copy(this.head, this.size, 0, PDF_HEAD_BYTES - this.size);
    const last = chunk.subarray(Math.max(0, chunk.length - PDF_TAIL_BYTES));
    const at = (this.size + chunk.length - last.length) % PDF_TAIL_BYTES;
    const copied = last.copy(this.ring, at);
    last.copy(this.ring, 0, copied);
    this.size += chunk.length;
  }

  /** the kept bytes and where the tail starts in the file */
  result(): KeptEnds {
    const head = this.head.subarray(0, Math.min(this.size, PDF_HEAD_BYTES));
    if (this.size <= PDF_TAIL_BYTES) return { head, tail: this.ring.subarray(0, this.size), tailStart: 0 };
    const at = this.size % PDF_TAIL_BYTES;
    return {
      head,
      tail: Buffer.concat([this.ring.subarray(at), this.ring.subarray(0, at)]),
      tailStart: this.size - PDF_TAIL_BYTES,
    };
  }
}

export interface KeptEnds {
  head: Buffer;
  tail: Buffer;
  tailStart: number;
}

/**
 * A stored PDF as inspectPdf reads it: by ranges, from the ends kept in memory where they lie there, else from
 * the store; and once more whole as a stream when it must be repaired.
 */
export function storedPdf(store: ObjectStore, object: StoredObject, kept?: KeptEnds): PdfSource {
  return {
    size: object.size,
    async read(start, length) {
      const end = Math.min(object.size, start + length);
      if (end <= start) return Buffer.alloc(0);
      if (kept && end <= kept.head.length) return kept.head.subarray(start, end);
      if (kept && start >= kept.tailStart) return kept.tail.subarray(start - kept.tailStart, end - kept.tailStart);
      const chunks: Buffer[] = [];
      for await (const chunk of await store.get(object.key, { start, end: end - 1 })) chunks.push(chunk as Buffer);
      return Buffer.concat(chunks);
    },
    readAll: async function* () {
      for await (const chunk of await store.get(object.key)) yield chunk as Buffer;
    },
  };
}
