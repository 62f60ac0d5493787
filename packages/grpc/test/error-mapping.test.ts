import type { ServiceError } from '@grpc/grpc-js';
import { invalidArgument } from '@kantoor/errors';
import { fromGrpcError, toGrpcStatus } from '../src';

describe('a refusal as a gRPC status and back', () => {
  test('violations that echo input outside ASCII (a header carries none) arrive as they were', () => {
    const violations = [{ field: 'eventTypes', message: 'holds unknown types: dócuments.sent, 請求書, 🧾' }];
    const status = toGrpcStatus(invalidArgument('Unknown event type.', { reason: 'unknown_event_type', violations }));
    const received = fromGrpcError({ ...status, message: '' } as ServiceError);
    expect(received).toMatchObject({ kind: 'invalid_argument', reason: 'unknown_event_type', violations });
  });
});
