/**
 * The services of the platform in start order, with their loopback port offsets in embedded mode (base port
 * + offset). The launcher needs only this list; the definitions are built in each service's own thread.
 */
export const PLATFORM_SERVICES = [
  { name: 'directory', offset: 0 },
  { name: 'document-intake', offset: 1 },
  { name: 'archive', offset: 2 },
  { name: 'invoicing', offset: 3 },
  { name: 'backup', offset: 4 },
  { name: 'accounting-connector', offset: 5 },
  { name: 'notification', offset: 6 },
] as const;
