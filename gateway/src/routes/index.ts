/**
 * The route table: every operation the gateway serves to clients. Add a service's routes by writing a
 * module like auth.ts (defineRoute per operation, calling the service's client through `deps.services`)
 * and spreading its list here. Nothing outside this table (and OPERATIONAL_PATHS) is served.
 */
import type { Route } from '../openapi/route';
import { apiKeyRoutes } from './api-keys';
import { authRoutes } from './auth';

export const routeTable: readonly Route[] = [...authRoutes, ...apiKeyRoutes];
