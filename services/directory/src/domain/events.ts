import { create, type DescMessage, type MessageInitShape } from '@bufbuild/protobuf';
import type { Queryable } from '@kantoor/database';
import { appendEvent } from '@kantoor/events';

/** Appends one of the directory's events (events.proto) in the transaction of the change it describes. */
export async function publish<Desc extends DescMessage>(
  tx: Queryable,
  schema: Desc,
  value: MessageInitShape<Desc> & { firmId: string; dossierId?: string },
): Promise<void> {
  await appendEvent(tx, {
    source: 'directory',
    firmId: value.firmId,
    dossierId: value.dossierId || undefined,
    payload: { schema, value: create(schema, value) },
  });
}
