/**
 * The route table: every operation the gateway serves to clients. Add a service's routes by writing a
 * module like auth.ts (defineRoute per operation, calling the service's client through `ctx.services`)
 * and spreading its list here. Nothing outside this table (and OPERATIONAL_PATHS) is served.
 */
import type { Route } from '../openapi/route';
import { apiKeyRoutes } from './api-keys';
import { archiveRoutes } from './archive';
import { authRoutes } from './auth';
import { directoryRoutes } from './directory';
import { documentIntakeRoutes } from './document-intake';
import { notificationRoutes } from './notification';
import { webhookRoutes } from './webhooks';

export const routeTable: readonly Route[] = [
  ...authRoutes,
  ...apiKeyRoutes,
  ...directoryRoutes,
  ...notificationRoutes,
  ...webhookRoutes,
  ...documentIntakeRoutes,
  ...archiveRoutes,
];
