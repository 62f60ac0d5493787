/**
 * The directory's public endpoints (spec 01): firm settings, staff, groups, dossiers, portal users, the
 * client's messages to the firm and impersonation. Each route names the permission the access policy
 * checks before the request reaches the directory, which checks it again.
 */
import { toJson, type DescMessage, type MessageShape } from '@bufbuild/protobuf';
import { notFound, unavailable } from '@kantoor/errors';
import type { ServiceClient } from '@kantoor/grpc';
import {
  ClientGroupSchema,
  DirectoryService,
  DossierSchema,
  FirmSchema,
  GetMyAccountResponseSchema,
  NewsItemSchema,
  PortalUserSchema,
  StaffGroupSchema,
  StaffSchema,
  StartImpersonationResponseSchema,
} from '@kantoor/proto/kantoor/directory/v1/directory_pb';
import { RecipientSchema } from '@kantoor/proto/kantoor/directory/v1/events_pb';
import type { ServiceClients } from '../app';
import { defineRoute, namedSchema, reply, type JsonSchema, type RouteContext } from '../openapi/route';
import { AccessTokenSchema } from './auth';
import { nextCursor, pageOf, pageQuery, type PageQuery } from './list-pages';

declare module '../app' {
  interface ServiceClients {
    directory?: ServiceClient<typeof DirectoryService>;
  }
}

type Ctx = Pick<RouteContext, 'caller' | 'requestId' | 'signal'>;

function directoryOf(services: ServiceClients): ServiceClient<typeof DirectoryService> {
  if (!services.directory)
    throw unavailable('The directory service is not available.', { reason: 'directory_unavailable' });
  return services.directory;
}

/** The call options of a request: the caller (with the request id) and cancellation when the client leaves. */
const callFor = (ctx: Ctx) => ({
  caller: ctx.caller
    ? { ...ctx.caller, requestId: ctx.requestId }
    : { kind: 'system' as const, subjectId: 'gateway', firmId: '', scopes: [], requestId: ctx.requestId },
  signal: ctx.signal,
});

const json = <D extends DescMessage>(schema: D, message: MessageShape<D> | undefined) =>
  message ? toJson(schema, message, { alwaysEmitImplicit: true }) : undefined;

// ---- schemas ----

const id = { type: 'string', format: 'uuid' } as const;
const ids = { type: 'array', maxItems: 500, uniqueItems: true, items: id } as const;
const email = { type: 'string', format: 'email', maxLength: 254 } as const;
const text = (maxLength: number) => ({ type: 'string', maxLength }) as const;
const language = { enum: ['nl', 'fr', 'en'] } as const;
const object = (properties: Record<string, unknown>, required: string[] = []): JsonSchema => ({
  type: 'object',
  additionalProperties: false,
  properties,
  required,
});
const params = (...names: string[]) =>
  object(Object.fromEntries(names.map((name) => [name, { type: 'string' }])), names);
const entity = (name: string, properties: Record<string, unknown>) => namedSchema(name, { type: 'object', properties });
const pageSchema = (itemsName: string, items: JsonSchema): JsonSchema => ({
  type: 'object',
  required: [itemsName, 'nextCursor'],
  properties: { [itemsName]: { type: 'array', items }, nextCursor },
});
/** the page size and cursor asked for (these lists never took a `limit`) */
const pageRequest = (query: PageQuery) => {
  const { pageSize, cursor } = pageOf(query);
  return { pageSize, cursor };
};

const ContactSchema = namedSchema(
  'ContactInfo',
  object(
    Object.fromEntries(
      ['address', 'postalCode', 'city', 'country', 'phone', 'email', 'website'].map((key) => [key, text(300)]),
    ),
  ),
);
const ContactPersonSchema = namedSchema(
  'ContactPerson',
  object({ name: text(200), email: text(254), phone: text(50), function: text(100) }, ['name']),
);
const SenderSchema = namedSchema(
  'WhitelistedSender',
  object({ email, autoSend: { type: 'boolean' } }, ['email', 'autoSend']),
);

const FirmView = entity('Firm', {
  id,
  name: { type: 'string' },
  functionalEmail: { type: 'string' },
  language,
  onlyAdminsAddClients: { type: 'boolean', description: 'when true only admins may activate dossiers' },
  contact: ContactSchema,
  intakeDomain: { type: 'string' },
});
const StaffView = entity('Staff', {
  id,
  name: { type: 'string' },
  email: { type: 'string' },
  role: { enum: ['admin', 'employee', 'support'] },
  status: { type: 'string' },
});
const StaffGroupView = entity('StaffGroup', {
  id,
  name: { type: 'string' },
  memberIds: { type: 'array', items: { type: 'string' } },
});
const ClientGroupView = entity('ClientGroup', {
  id,
  name: { type: 'string' },
  email: { type: 'string' },
  staffIds: { type: 'array' },
  staffGroupIds: { type: 'array' },
});
const DossierView = entity('Dossier', {
  id,
  code: { type: 'string', description: 'fixed at creation' },
  name: { type: 'string' },
  country: { enum: ['BE', 'NL'] },
  enterpriseNumber: { type: 'string' },
  language,
  status: { enum: ['new', 'active', 'deactivated'] },
  fileManagerId: { type: 'string' },
  clientGroupId: { type: 'string' },
  intakeAddresses: { type: 'object' },
  senderWhitelist: { type: 'array', items: SenderSchema },
  contactPersons: { type: 'array', items: ContactPersonSchema },
});
const DossierPage = namedSchema('DossierPage', pageSchema('dossiers', DossierView));
const PortalUserView = entity('PortalUser', {
  id,
  email: { type: 'string' },
  name: { type: 'string' },
  status: { type: 'string' },
  profile: { type: 'string' },
});
const RecipientView = entity('Recipient', {
  email: { type: 'string' },
  name: { type: 'string' },
  source: { enum: ['file_manager', 'client_group', 'firm'] },
});
const NewsItemView = entity('NewsItem', {
  id,
  title: { type: 'string' },
  body: { type: 'string', description: 'plain text; paragraphs separated by blank lines' },
  publishedAt: { type: 'string', format: 'date-time' },
  publishedByName: { type: 'string' },
  withdrawnAt: { type: 'string', format: 'date-time', description: 'only for staff: no longer shown to clients' },
});
const NewsPage = namedSchema('NewsPage', {
  type: 'object',
  required: ['items', 'nextCursor'],
  properties: {
    items: { type: 'array', items: NewsItemView },
    nextCursor: { type: 'string', description: 'empty on the last page' },
  },
});
const AccountView = entity('Account', {
  kind: { type: 'string' },
  id: { type: 'string' },
  mustChangePassword: { type: 'boolean' },
  mustAcceptTerms: { type: 'boolean' },
});
const ok = (description: string, schema?: JsonSchema) => ({ description, ...(schema && { schema }) });

// ---- firm ----

export const getFirm = defineRoute({
  method: 'get',
  path: '/v1/firm',
  operationId: 'getFirm',
  summary: "The caller's firm and its settings",
  tags: ['firm'],
  auth: 'authenticated',
  permission: 'firm:read',
  responses: { 200: ok('The firm', FirmView) },
  handler: async (ctx) =>
    json(FirmSchema, (await directoryOf(ctx.services).getFirm({ firmId: ctx.caller.firmId }, callFor(ctx))).firm),
});

export const updateFirmSettings = defineRoute<{ body: Record<string, never> }>({
  method: 'patch',
  path: '/v1/firm/settings',
  operationId: 'updateFirmSettings',
  summary: 'Change firm settings (admins)',
  tags: ['firm'],
  auth: 'authenticated',
  permission: 'firm:write',
  request: {
    body: object({
      name: text(200),
      functionalEmail: email,
      language,
      onlyAdminsAddClients: { type: 'boolean' },
      contact: ContactSchema,
      intakeDomain: text(253),
    }),
  },
  responses: { 200: ok('The firm as changed', FirmView) },
  handler: async (ctx) =>
    json(FirmSchema, (await directoryOf(ctx.services).updateFirmSettings(ctx.body, callFor(ctx))).firm),
});

// ---- staff ----

export const listStaff = defineRoute<{ query: PageQuery }>({
  method: 'get',
  path: '/v1/staff',
  operationId: 'listStaff',
  summary: "The firm's staff, by name, a page at a time",
  description:
    'Removed staff members are left out. Sorted by name (case-insensitive), then id. When more follow, ' +
    '`nextCursor` is set: pass it as `cursor` for the next page; on the last page it is empty.',
  tags: ['staff'],
  auth: 'authenticated',
  permission: 'staff:read',
  request: { query: object(pageQuery()) },
  responses: {
    200: ok('One page of staff members', namedSchema('StaffPage', pageSchema('staff', StaffView))),
  },
  handler: async (ctx) => {
    const page = await directoryOf(ctx.services).listStaff(pageRequest(ctx.query), callFor(ctx));
    return { staff: page.staff.map((s) => json(StaffSchema, s)), nextCursor: page.nextCursor };
  },
});

export const inviteStaff = defineRoute<{
  body: { name: string; email: string; role: string; dossierIds?: string[]; clientGroupIds?: string[] };
}>({
  method: 'post',
  path: '/v1/staff',
  operationId: 'inviteStaff',
  summary: 'Add a staff member (admins); they receive an activation e-mail',
  tags: ['staff'],
  auth: 'authenticated',
  permission: 'staff:write',
  request: {
    body: object(
      {
        name: text(200),
        email,
        role: { enum: ['admin', 'employee', 'support'] },
        dossierIds: ids,
        clientGroupIds: ids,
      },
      ['name', 'email', 'role'],
    ),
  },
  responses: { 201: ok('Invited', StaffView) },
  handler: async (ctx) =>
    json(StaffSchema, (await directoryOf(ctx.services).inviteStaff(ctx.body, callFor(ctx))).staff),
});

export const changeStaffRole = defineRoute<{ params: { staffId: string }; body: { role: string } }>({
  method: 'patch',
  path: '/v1/staff/{staffId}',
  operationId: 'changeStaffRole',
  summary: "Change a staff member's role (admins); the last admin stays admin",
  tags: ['staff'],
  auth: 'authenticated',
  permission: 'staff:write',
  request: { params: params('staffId'), body: object({ role: { enum: ['admin', 'employee', 'support'] } }, ['role']) },
  responses: { 200: ok('Changed', StaffView) },
  handler: async (ctx) =>
    json(
      StaffSchema,
      (
        await directoryOf(ctx.services).changeStaffRole(
          { staffId: ctx.params.staffId, role: ctx.body.role },
          callFor(ctx),
        )
      ).staff,
    ),
});

export const removeStaff = defineRoute<{ params: { staffId: string } }>({
  method: 'delete',
  path: '/v1/staff/{staffId}',
  operationId: 'removeStaff',
  summary: 'Remove a staff member (admins); the last admin cannot be removed',
  tags: ['staff'],
  auth: 'authenticated',
  permission: 'staff:write',
  request: { params: params('staffId') },
  responses: { 204: ok('Removed') },
  handler: async (ctx) => {
    await directoryOf(ctx.services).removeStaff({ staffId: ctx.params.staffId }, callFor(ctx));
    return reply(204);
  },
});

const ActivationSchema = namedSchema('Activation', object({ token: text(200), password: text(256) }, ['token']));

export const activateStaff = defineRoute<{ body: { token: string; password: string } }>({
  method: 'post',
  path: '/v1/activations/staff',
  operationId: 'activateStaff',
  summary: 'Set the first password with the activation link',
  description: 'The token from the activation e-mail is the credential; it works once and expires.',
  tags: ['staff'],
  auth: 'public',
  throttle: 'login',
  idempotency: false,
  request: { body: ActivationSchema },
  responses: {
    200: ok('Activated', { type: 'object', properties: { subjectId: { type: 'string' }, email: { type: 'string' } } }),
  },
  handler: async (ctx) => {
    const { subjectId, email: address } = await directoryOf(ctx.services).activateStaff(
      { token: ctx.body.token, password: ctx.body.password ?? '' },
      callFor(ctx),
    );
    return { subjectId, email: address };
  },
});

export const activatePortalUser = defineRoute<{ body: { token: string; password?: string } }>({
  method: 'post',
  path: '/v1/activations/portal-users',
  operationId: 'activatePortalUser',
  summary: 'Activate a portal account with the activation link',
  description: 'Without a password one is generated and shown once; it must be changed after the first login.',
  tags: ['portal users'],
  auth: 'public',
  throttle: 'login',
  idempotency: false,
  request: { body: ActivationSchema },
  responses: {
    200: ok('Activated', {
      type: 'object',
      properties: { subjectId: { type: 'string' }, generatedPassword: { type: 'string' } },
    }),
  },
  handler: async (ctx) => {
    const answer = await directoryOf(ctx.services).activatePortalUser(
      { token: ctx.body.token, password: ctx.body.password ?? '' },
      callFor(ctx),
    );
    return {
      subjectId: answer.subjectId,
      email: answer.email,
      ...(answer.generatedPassword && { generatedPassword: answer.generatedPassword }),
    };
  },
});

// ---- groups ----

export const listStaffGroups = defineRoute<{ query: PageQuery }>({
  method: 'get',
  path: '/v1/staff-groups',
  operationId: 'listStaffGroups',
  summary: "The firm's staff groups (teams), by name, a page at a time",
  description:
    'Sorted by name (case-insensitive), then id. When more follow, `nextCursor` is set: pass it as `cursor` ' +
    'for the next page; on the last page it is empty.',
  tags: ['groups'],
  auth: 'authenticated',
  permission: 'group:read',
  request: { query: object(pageQuery()) },
  responses: {
    200: ok('One page of staff groups', namedSchema('StaffGroupPage', pageSchema('staffGroups', StaffGroupView))),
  },
  handler: async (ctx) => {
    const page = await directoryOf(ctx.services).listStaffGroups(pageRequest(ctx.query), callFor(ctx));
    return { staffGroups: page.staffGroups.map((g) => json(StaffGroupSchema, g)), nextCursor: page.nextCursor };
  },
});

export const createStaffGroup = defineRoute<{ body: { name: string; memberIds?: string[] } }>({
  method: 'post',
  path: '/v1/staff-groups',
  operationId: 'createStaffGroup',
  summary: 'Create a staff group (admins)',
  tags: ['groups'],
  auth: 'authenticated',
  permission: 'group:write',
  request: { body: object({ name: text(200), memberIds: ids }, ['name']) },
  responses: { 201: ok('Created', StaffGroupView) },
  handler: async (ctx) =>
    json(
      StaffGroupSchema,
      (
        await directoryOf(ctx.services).createStaffGroup(
          { name: ctx.body.name, memberIds: ctx.body.memberIds ?? [] },
          callFor(ctx),
        )
      ).staffGroup,
    ),
});

export const updateStaffGroup = defineRoute<{
  params: { staffGroupId: string };
  body: { name?: string; memberIds?: string[] };
}>({
  method: 'patch',
  path: '/v1/staff-groups/{staffGroupId}',
  operationId: 'updateStaffGroup',
  summary: 'Rename a staff group or replace its members (admins)',
  tags: ['groups'],
  auth: 'authenticated',
  permission: 'group:write',
  request: { params: params('staffGroupId'), body: object({ name: text(200), memberIds: ids }) },
  responses: { 200: ok('Changed', StaffGroupView) },
  handler: async (ctx) => {
    const { name, memberIds } = ctx.body;
    const answer = await directoryOf(ctx.services).updateStaffGroup(
      { staffGroupId: ctx.params.staffGroupId, name, memberIds: memberIds && { ids: memberIds } },
      callFor(ctx),
    );
    return json(StaffGroupSchema, answer.staffGroup);
  },
});

export const listClientGroups = defineRoute<{ query: PageQuery }>({
  method: 'get',
  path: '/v1/client-groups',
  operationId: 'listClientGroups',
  summary: "The firm's client groups, by name, a page at a time",
  description:
    'Sorted by name (case-insensitive), then id. When more follow, `nextCursor` is set: pass it as `cursor` ' +
    'for the next page; on the last page it is empty.',
  tags: ['groups'],
  auth: 'authenticated',
  permission: 'group:read',
  request: { query: object(pageQuery()) },
  responses: {
    200: ok('One page of client groups', namedSchema('ClientGroupPage', pageSchema('clientGroups', ClientGroupView))),
  },
  handler: async (ctx) => {
    const page = await directoryOf(ctx.services).listClientGroups(pageRequest(ctx.query), callFor(ctx));
    return { clientGroups: page.clientGroups.map((g) => json(ClientGroupSchema, g)), nextCursor: page.nextCursor };
  },
});

export const createClientGroup = defineRoute<{
  body: { name: string; email: string; staffIds?: string[]; staffGroupIds?: string[] };
}>({
  method: 'post',
  path: '/v1/client-groups',
  operationId: 'createClientGroup',
  summary: 'Create a client group with its e-mail address (admins)',
  tags: ['groups'],
  auth: 'authenticated',
  permission: 'group:write',
  request: { body: object({ name: text(200), email, staffIds: ids, staffGroupIds: ids }, ['name', 'email']) },
  responses: { 201: ok('Created', ClientGroupView) },
  handler: async (ctx) => {
    const { name, email: address, staffIds = [], staffGroupIds = [] } = ctx.body;
    return json(
      ClientGroupSchema,
      (
        await directoryOf(ctx.services).createClientGroup(
          { name, email: address, staffIds, staffGroupIds },
          callFor(ctx),
        )
      ).clientGroup,
    );
  },
});

export const updateClientGroup = defineRoute<{
  params: { clientGroupId: string };
  body: { name?: string; email?: string; staffIds?: string[]; staffGroupIds?: string[] };
}>({
  method: 'patch',
  path: '/v1/client-groups/{clientGroupId}',
  operationId: 'updateClientGroup',
  summary: 'Change a client group (admins)',
  tags: ['groups'],
  auth: 'authenticated',
  permission: 'group:write',
  request: {
    params: params('clientGroupId'),
    body: object({ name: text(200), email, staffIds: ids, staffGroupIds: ids }),
  },
  responses: { 200: ok('Changed', ClientGroupView) },
  handler: async (ctx) => {
    const { name, email: address, staffIds, staffGroupIds } = ctx.body;
    const answer = await directoryOf(ctx.services).updateClientGroup(
      {
        clientGroupId: ctx.params.clientGroupId,
        name,
        email: address,
        staffIds: staffIds && { ids: staffIds },
        staffGroupIds: staffGroupIds && { ids: staffGroupIds },
      },
      callFor(ctx),
    );
    return json(ClientGroupSchema, answer.clientGroup);
  },
});

// ---- dossiers ----

export const listDossiers = defineRoute<{
  query: {
    status?: string;
    search?: string;
    fileManagerId?: string;
    clientGroupId?: string;
    pageSize?: number;
    cursor?: string;
  };
}>({
  method: 'get',
  path: '/v1/dossiers',
  operationId: 'listDossiers',
  summary: 'The dossiers the caller may see, filtered, by name, a page at a time',
  tags: ['dossiers'],
  auth: 'authenticated',
  permission: 'dossier:list',
  request: {
    query: object({
      status: { enum: ['new', 'active', 'deactivated'] },
      search: text(200),
      fileManagerId: id,
      clientGroupId: id,
      pageSize: { type: 'integer', minimum: 1, maximum: 200 },
      cursor: text(1000),
    }),
  },
  responses: { 200: ok('One page', DossierPage) },
  handler: async (ctx) => {
    const page = await directoryOf(ctx.services).listDossiers(
      { ...ctx.query, pageSize: ctx.query.pageSize ?? 50 },
      callFor(ctx),
    );
    return { dossiers: page.dossiers.map((d) => json(DossierSchema, d)), nextCursor: page.nextCursor };
  },
});

export const createDossier = defineRoute<{
  body: { name: string; country: string; enterpriseNumber: string; language: string; code?: string };
}>({
  method: 'post',
  path: '/v1/dossiers',
  operationId: 'createDossier',
  summary: 'Create a dossier (a client); the code cannot change later',
  tags: ['dossiers'],
  auth: 'authenticated',
  permission: 'dossier:create',
  request: {
    body: object(
      {
        name: text(200),
        country: { enum: ['BE', 'NL'] },
        enterpriseNumber: text(30),
        language,
        code: text(40),
        contact: ContactSchema,
        contactPersons: { type: 'array', maxItems: 50, items: ContactPersonSchema },
      },
      ['name', 'country', 'enterpriseNumber', 'language'],
    ),
  },
  responses: { 201: ok('Created', DossierView) },
  handler: async (ctx) =>
    json(DossierSchema, (await directoryOf(ctx.services).createDossier(ctx.body, callFor(ctx))).dossier),
});

const dossierParams = params('dossierId');

export const getDossier = defineRoute<{ params: { dossierId: string } }>({
  method: 'get',
  path: '/v1/dossiers/{dossierId}',
  operationId: 'getDossier',
  summary: 'A dossier with its settings',
  tags: ['dossiers'],
  auth: 'authenticated',
  permission: 'dossier:read',
  request: { params: dossierParams },
  responses: { 200: ok('The dossier', DossierView) },
  handler: async (ctx) =>
    json(
      DossierSchema,
      (await directoryOf(ctx.services).getDossier({ dossierId: ctx.params.dossierId }, callFor(ctx))).dossier,
    ),
});

export const updateDossierSettings = defineRoute<{
  params: { dossierId: string };
  body: {
    name?: string;
    language?: string;
    contact?: Record<string, string>;
    contactPersons?: object[];
    senderWhitelist?: object[];
  };
}>({
  method: 'patch',
  path: '/v1/dossiers/{dossierId}/settings',
  operationId: 'updateDossierSettings',
  summary: 'Change contact information, contact persons, sender whitelist, name or language',
  tags: ['dossiers'],
  auth: 'authenticated',
  permission: 'dossier:write',
  request: {
    params: dossierParams,
    body: object({
      name: text(200),
      language,
      contact: ContactSchema,
      contactPersons: { type: 'array', maxItems: 50, items: ContactPersonSchema },
      senderWhitelist: { type: 'array', maxItems: 200, items: SenderSchema },
    }),
  },
  responses: { 200: ok('Changed', DossierView) },
  handler: async (ctx) => {
    const { contactPersons, senderWhitelist, ...rest } = ctx.body;
    const answer = await directoryOf(ctx.services).updateDossierSettings(
      {
        dossierId: ctx.params.dossierId,
        ...rest,
        contactPersons: contactPersons && { items: contactPersons },
        senderWhitelist: senderWhitelist && { items: senderWhitelist },
      },
      callFor(ctx),
    );
    return json(DossierSchema, answer.dossier);
  },
});

export const activateDossier = defineRoute<{
  params: { dossierId: string };
  body: { fileManagerId?: string; clientGroupId?: string };
}>({
  method: 'post',
  path: '/v1/dossiers/{dossierId}/activation',
  operationId: 'activateDossier',
  summary: 'Activate a dossier with a file manager and/or client group',
  description: 'Only admins when the firm sets onlyAdminsAddClients.',
  tags: ['dossiers'],
  auth: 'authenticated',
  permission: 'dossier:activate',
  request: { params: dossierParams, body: object({ fileManagerId: id, clientGroupId: id }) },
  responses: { 200: ok('Activated', DossierView) },
  handler: async (ctx) =>
    json(
      DossierSchema,
      (await directoryOf(ctx.services).activateDossier({ dossierId: ctx.params.dossierId, ...ctx.body }, callFor(ctx)))
        .dossier,
    ),
});

export const assignDossier = defineRoute<{
  params: { dossierId: string };
  body: {
    fileManagerId?: string | null;
    clientGroupId?: string | null;
    collaboratorStaffIds?: string[];
    collaboratorGroupIds?: string[];
  };
}>({
  method: 'put',
  path: '/v1/dossiers/{dossierId}/assignments',
  operationId: 'assignDossier',
  summary: 'Replace the file manager, client group or collaborators (staff and staff groups)',
  description: 'Fields left out stay as they are; null takes the file manager or client group away.',
  tags: ['dossiers'],
  auth: 'authenticated',
  permission: 'dossier:write',
  request: {
    params: dossierParams,
    body: object({
      fileManagerId: { type: ['string', 'null'], format: 'uuid' },
      clientGroupId: { type: ['string', 'null'], format: 'uuid' },
      collaboratorStaffIds: ids,
      collaboratorGroupIds: ids,
    }),
  },
  responses: { 200: ok('Assigned', DossierView) },
  handler: async (ctx) => {
    const { fileManagerId, clientGroupId, collaboratorStaffIds, collaboratorGroupIds } = ctx.body;
    const answer = await directoryOf(ctx.services).assignDossier(
      {
        dossierId: ctx.params.dossierId,
        fileManagerId: fileManagerId === null ? '' : fileManagerId,
        clientGroupId: clientGroupId === null ? '' : clientGroupId,
        collaboratorStaffIds: collaboratorStaffIds && { ids: collaboratorStaffIds },
        collaboratorGroupIds: collaboratorGroupIds && { ids: collaboratorGroupIds },
      },
      callFor(ctx),
    );
    return json(DossierSchema, answer.dossier);
  },
});

export const deactivateDossier = defineRoute<{ params: { dossierId: string } }>({
  method: 'post',
  path: '/v1/dossiers/{dossierId}/deactivation',
  operationId: 'deactivateDossier',
  summary: 'Deactivate a dossier (the client left); its archive stays available to the firm',
  tags: ['dossiers'],
  auth: 'authenticated',
  permission: 'dossier:write',
  request: { params: dossierParams },
  responses: { 200: ok('Deactivated', DossierView) },
  handler: async (ctx) =>
    json(
      DossierSchema,
      (await directoryOf(ctx.services).deactivateDossier({ dossierId: ctx.params.dossierId }, callFor(ctx))).dossier,
    ),
});

export const reactivateDossier = defineRoute<{ params: { dossierId: string } }>({
  method: 'post',
  path: '/v1/dossiers/{dossierId}/reactivation',
  operationId: 'reactivateDossier',
  summary: 'Reactivate a deactivated dossier',
  tags: ['dossiers'],
  auth: 'authenticated',
  permission: 'dossier:write',
  request: { params: dossierParams },
  responses: { 200: ok('Reactivated', DossierView) },
  handler: async (ctx) =>
    json(
      DossierSchema,
      (await directoryOf(ctx.services).reactivateDossier({ dossierId: ctx.params.dossierId }, callFor(ctx))).dossier,
    ),
});

export const getDossierRecipient = defineRoute<{ params: { dossierId: string } }>({
  method: 'get',
  path: '/v1/dossiers/{dossierId}/recipient',
  operationId: 'getDossierRecipient',
  summary: "Where the client's messages go: file manager, else client group, else the firm",
  tags: ['dossiers'],
  auth: 'authenticated',
  permission: 'dossier:read',
  request: { params: dossierParams },
  responses: { 200: ok('The recipient', RecipientView) },
  handler: async (ctx) =>
    json(
      RecipientSchema,
      (await directoryOf(ctx.services).resolveDossierRecipients({ dossierId: ctx.params.dossierId }, callFor(ctx)))
        .recipient,
    ),
});

// ---- portal users ----

export const listPortalUsers = defineRoute<{ params: { dossierId: string }; query: PageQuery }>({
  method: 'get',
  path: '/v1/dossiers/{dossierId}/portal-users',
  operationId: 'listPortalUsers',
  summary: "A dossier's portal users, by name, a page at a time",
  description:
    'Sorted by name (case-insensitive), then id. When more follow, `nextCursor` is set: pass it as `cursor` ' +
    'for the next page; on the last page it is empty.',
  tags: ['portal users'],
  auth: 'authenticated',
  permission: 'portal_user:read',
  request: { params: dossierParams, query: object(pageQuery()) },
  responses: {
    200: ok('One page of portal users', namedSchema('PortalUserPage', pageSchema('portalUsers', PortalUserView))),
  },
  handler: async (ctx) => {
    const page = await directoryOf(ctx.services).listPortalUsers(
      { dossierId: ctx.params.dossierId, ...pageRequest(ctx.query) },
      callFor(ctx),
    );
    return { portalUsers: page.portalUsers.map((u) => json(PortalUserSchema, u)), nextCursor: page.nextCursor };
  },
});

export const addPortalUser = defineRoute<{ params: { dossierId: string }; body: { email: string; name: string } }>({
  method: 'post',
  path: '/v1/dossiers/{dossierId}/portal-users',
  operationId: 'addPortalUser',
  summary: 'Give someone access to the client portal of a dossier, by e-mail address',
  description:
    'An address the firm knows already is extended to this dossier; a new one receives an activation e-mail.',
  tags: ['portal users'],
  auth: 'authenticated',
  permission: 'portal_user:write',
  request: { params: dossierParams, body: object({ email, name: text(200) }, ['email', 'name']) },
  responses: {
    201: ok('Added', { type: 'object', properties: { portalUser: PortalUserView, existingUser: { type: 'boolean' } } }),
  },
  handler: async (ctx) => {
    const answer = await directoryOf(ctx.services).addPortalUser(
      { dossierId: ctx.params.dossierId, ...ctx.body },
      callFor(ctx),
    );
    return { portalUser: json(PortalUserSchema, answer.portalUser), existingUser: answer.existingUser };
  },
});

// ---- the client portal: messages to the firm ----

const recipientAnswer = { 200: ok('Sent to the recipient the cascade found', RecipientView) };

export const sendClientMessage = defineRoute<{
  params: { dossierId: string };
  body: { subject: string; body: string };
}>({
  method: 'post',
  path: '/v1/dossiers/{dossierId}/messages',
  operationId: 'sendClientMessage',
  summary: 'The client writes to the firm (routed by the cascade)',
  tags: ['client portal'],
  auth: 'authenticated',
  permission: 'portal:use',
  request: { params: dossierParams, body: object({ subject: text(200), body: text(20_000) }, ['subject', 'body']) },
  responses: recipientAnswer,
  handler: async (ctx) =>
    json(
      RecipientSchema,
      (
        await directoryOf(ctx.services).sendClientMessage(
          { dossierId: ctx.params.dossierId, ...ctx.body },
          callFor(ctx),
        )
      ).recipient,
    ),
});

export const completeVatDeclaration = defineRoute<{ params: { dossierId: string } }>({
  method: 'post',
  path: '/v1/dossiers/{dossierId}/vat-declaration-complete',
  operationId: 'completeVatDeclaration',
  summary: 'The client reports that all documents of the current VAT period are in',
  tags: ['client portal'],
  auth: 'authenticated',
  permission: 'portal:use',
  request: { params: dossierParams },
  responses: recipientAnswer,
  handler: async (ctx) =>
    json(
      RecipientSchema,
      (await directoryOf(ctx.services).completeVatDeclaration({ dossierId: ctx.params.dossierId }, callFor(ctx)))
        .recipient,
    ),
});

export const requestAdditionalUser = defineRoute<{
  params: { dossierId: string };
  body: { name: string; email: string; note?: string };
}>({
  method: 'post',
  path: '/v1/dossiers/{dossierId}/user-requests',
  operationId: 'requestAdditionalUser',
  summary: 'The client asks the file manager for another portal user',
  tags: ['client portal'],
  auth: 'authenticated',
  permission: 'portal:use',
  request: { params: dossierParams, body: object({ name: text(200), email, note: text(2000) }, ['name', 'email']) },
  responses: recipientAnswer,
  handler: async (ctx) =>
    json(
      RecipientSchema,
      (
        await directoryOf(ctx.services).requestAdditionalUser(
          { dossierId: ctx.params.dossierId, note: '', ...ctx.body },
          callFor(ctx),
        )
      ).recipient,
    ),
});

export const startImpersonation = defineRoute<{ params: { dossierId: string }; body: { portalUserId?: string } }>({
  method: 'post',
  path: '/v1/dossiers/{dossierId}/impersonation',
  operationId: 'startImpersonation',
  summary: 'Open the client portal as the client sees it (staff with access to the dossier)',
  description:
    'Answers a token carrying both identities; every action taken with it records both. Sign in again to return.',
  tags: ['client portal'],
  auth: 'authenticated',
  permission: 'impersonation:start',
  idempotency: {
    answerNotKept: () => 'Its answer held an access token, which is not kept; start again with a new key.',
  },
  request: { params: dossierParams, body: object({ portalUserId: id }) },
  responses: { 200: ok('A token acting as the client', AccessTokenSchema) },
  handler: async (ctx) => {
    const started = await directoryOf(ctx.services).startImpersonation(
      { dossierId: ctx.params.dossierId, portalUserId: ctx.body?.portalUserId ?? '' },
      callFor(ctx),
    );
    const issuer = ctx.deps.tokenIssuer;
    if (!issuer)
      throw notFound('Impersonation tokens are issued by the gateway in embedded mode only.', {
        reason: 'impersonation_not_available',
      });
    const { scopes: _scopes, requestId: _requestId, ...caller } = ctx.caller;
    void json(StartImpersonationResponseSchema, started);
    return issuer.issue({
      ...caller,
      impersonation: { dossierId: started.dossierId, portalUserId: started.portalUserId },
    });
  },
});

// ---- one's own account ----

export const getMyAccount = defineRoute({
  method: 'get',
  path: '/v1/me',
  operationId: 'getMyAccount',
  summary: "The caller's account and the first-login steps still to do",
  tags: ['account'],
  auth: 'authenticated',
  permission: 'account:read',
  responses: { 200: ok('The account', AccountView) },
  handler: async (ctx) =>
    json(GetMyAccountResponseSchema, await directoryOf(ctx.services).getMyAccount({}, callFor(ctx))),
});

export const acceptTerms = defineRoute<{ body: { version: string } }>({
  method: 'post',
  path: '/v1/me/terms-acceptance',
  operationId: 'acceptTerms',
  summary: 'Accept the terms of use (portal users); version and time are recorded',
  tags: ['account'],
  auth: 'authenticated',
  permission: 'account:write',
  request: { body: object({ version: text(50) }, ['version']) },
  responses: { 200: ok('Accepted', { type: 'object', properties: { acceptedAt: { type: 'string' } } }) },
  handler: async (ctx) => {
    const { acceptedAt } = await directoryOf(ctx.services).acceptTerms({ version: ctx.body.version }, callFor(ctx));
    return {
      acceptedAt: acceptedAt
        ? new Date(Number(acceptedAt.seconds) * 1000 + acceptedAt.nanos / 1e6).toISOString()
        : null,
    };
  },
});

export const changePassword = defineRoute<{ body: { currentPassword: string; newPassword: string } }>({
  method: 'post',
  path: '/v1/me/password',
  operationId: 'changePassword',
  summary: "Change one's own password",
  tags: ['account'],
  auth: 'authenticated',
  permission: 'account:write',
  idempotency: false,
  request: { body: object({ currentPassword: text(256), newPassword: text(256) }, ['currentPassword', 'newPassword']) },
  responses: { 204: ok('Changed') },
  handler: async (ctx) => {
    await directoryOf(ctx.services).changePassword(ctx.body, callFor(ctx));
    return reply(204);
  },
});

export const listNewsItems = defineRoute<{ query: { pageSize?: number; cursor?: string } }>({
  method: 'get',
  path: '/v1/news',
  operationId: 'listNewsItems',
  summary: "The firm's news in the client portal, newest first (staff also see withdrawn items)",
  tags: ['client portal'],
  auth: 'authenticated',
  permission: 'news:read',
  request: { query: object({ pageSize: { type: 'integer', minimum: 1, maximum: 100 }, cursor: text(1000) }) },
  responses: { 200: ok('One page', NewsPage) },
  handler: async (ctx) => {
    const page = await directoryOf(ctx.services).listNewsItems(
      { pageSize: ctx.query.pageSize ?? 20, cursor: ctx.query.cursor ?? '' },
      callFor(ctx),
    );
    return { items: page.items.map((item) => json(NewsItemSchema, item)), nextCursor: page.nextCursor };
  },
});

export const publishNewsItem = defineRoute<{ body: { title: string; body: string } }>({
  method: 'post',
  path: '/v1/news',
  operationId: 'publishNewsItem',
  summary: "Publish a news item for all the firm's clients",
  tags: ['client portal'],
  auth: 'authenticated',
  permission: 'news:write',
  request: { body: object({ title: text(200), body: text(20_000) }, ['title', 'body']) },
  responses: { 201: ok('Published', NewsItemView) },
  handler: async (ctx) =>
    json(NewsItemSchema, (await directoryOf(ctx.services).publishNewsItem(ctx.body, callFor(ctx))).item),
});

export const withdrawNewsItem = defineRoute<{ params: { newsItemId: string } }>({
  method: 'post',
  path: '/v1/news/{newsItemId}/withdrawal',
  operationId: 'withdrawNewsItem',
  summary: 'Take a news item out of the client portal (it is kept, marked withdrawn)',
  tags: ['client portal'],
  auth: 'authenticated',
  permission: 'news:write',
  request: { params: object({ newsItemId: id }, ['newsItemId']) },
  responses: { 200: ok('Withdrawn', NewsItemView) },
  handler: async (ctx) =>
    json(
      NewsItemSchema,
      (await directoryOf(ctx.services).withdrawNewsItem({ id: ctx.params.newsItemId }, callFor(ctx))).item,
    ),
});

export const directoryRoutes = [
  getFirm,
  updateFirmSettings,
  listStaff,
  inviteStaff,
  changeStaffRole,
  removeStaff,
  activateStaff,
  activatePortalUser,
  listStaffGroups,
  createStaffGroup,
  updateStaffGroup,
  listClientGroups,
  createClientGroup,
  updateClientGroup,
  listDossiers,
  createDossier,
  getDossier,
  updateDossierSettings,
  activateDossier,
  assignDossier,
  deactivateDossier,
  reactivateDossier,
  getDossierRecipient,
  listPortalUsers,
  addPortalUser,
  sendClientMessage,
  completeVatDeclaration,
  requestAdditionalUser,
  listNewsItems,
  publishNewsItem,
  withdrawNewsItem,
  startImpersonation,
  getMyAccount,
  acceptTerms,
  changePassword,
];
