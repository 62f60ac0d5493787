import type { PolicyCaller } from '@kantoor/access-policy';

/** Who acts: the gRPC caller as the domain sees it. */
export type Actor = PolicyCaller & { email?: string };

/** Throws the access-policy refusal unless `actor` holds `permission` on the dossier now. */
export type AccessGuard = (
  actor: Actor,
  permission: 'document:read' | 'document:write' | 'document:process',
  dossierId: string,
) => Promise<void>;

/** A dossier's name and code as the firm's staff know it. */
export type DossierLabels = (firmId: string, dossierId: string) => Promise<{ name: string; code: string }>;
