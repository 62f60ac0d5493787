import type { Caller } from './caller';

export interface LoginCredentials {
  email: string;
  password: string;
}

/** The person behind a login: a staff member or a portal user. */
export type LoginIdentity = Omit<Caller, 'scopes' | 'requestId'> & { kind: 'staff' | 'portal_user' };

/**
 * Checks an e-mail address and password (embedded mode); the directory service implements it over gRPC.
 * Resolves to null, or throws an `unauthenticated` DomainError, when the credentials are wrong: the
 * gateway answers both the same way, so the answer never tells which part was wrong.
 */
export type PasswordLogin = (credentials: LoginCredentials) => Promise<LoginIdentity | null>;
