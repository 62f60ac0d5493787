export {
  can,
  decide,
  isKnownPermission,
  permissionScope,
  scopeGrants,
  PERMISSIONS,
  ROLES,
  type AccessFacts,
  type Decision,
  type DossierFacts,
  type DossierStatus,
  type FirmFacts,
  type KnownPermission,
  type PolicyCaller,
  type Role,
  type SubjectFacts,
} from './policy';
export { accessRefusal, checkAccess, requireAccess, type AccessFactsQuery, type FetchAccessFacts } from './guard';
