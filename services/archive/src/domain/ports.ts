import type { AccessFacts } from '@kantoor/access-policy';
import type { Caller } from '@kantoor/grpc';

export type Actor = Caller;

/** Applies the access policy with the directory's current facts; throws the refusal. */
export type AccessGuard = (actor: Actor, permission: string, dossierId?: string) => Promise<AccessFacts>;

export const actorId = (actor: Actor): string => `${actor.kind}:${actor.subjectId}`;
