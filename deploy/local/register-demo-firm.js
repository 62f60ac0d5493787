/**
 * DEVELOPER CLUSTER ONLY. Registers the demo firm once: "Demo Accountants", whose first admin is the demo user
 * of deploy/local's Keycloak realm (admin@demo.kantoor.localhost). A cluster has no sign-up: registering a firm
 * is the operator's act (the directory's RegisterFirm, for system callers only), and the gateway lets a token
 * in only when the directory knows its e-mail address. Runs inside the directory's pod, which has the code,
 * the CALLER_SIGNING_KEY that system calls are signed with and its own gRPC port on loopback (the chart's
 * NetworkPolicy lets no other pod reach it):
 *   kubectl exec -i deploy/kantoor-directory -- node - < deploy/local/register-demo-firm.js
 * Running it again changes nothing: it asks the directory whether the address has access first.
 */
const path = require('node:path');
const { createRequire } = require('node:module');

// The directory image has the service's production packages in services/directory under its working
// directory (/app, services/directory/Dockerfile); so does the repository, where the tests run this script.
const fromDirectory = createRequire(path.resolve('services/directory/package.json'));
const { createServiceClient, systemCaller, useCallerSigningKey } = fromDirectory('@kantoor/grpc');
const { DirectoryService } = fromDirectory('@kantoor/proto/kantoor/directory/v1/directory_pb');

const adminEmail = process.env.DEMO_ADMIN_EMAIL || 'admin@demo.kantoor.localhost';
const address = process.env.DIRECTORY_GRPC_ADDRESS || `127.0.0.1:${process.env.GRPC_PORT || 50051}`;
const issuer = process.env.DEMO_OIDC_ISSUER || 'http://kantoor-oidc:8080/realms/kantoor';

async function registerDemoFirm() {
  useCallerSigningKey(process.env.CALLER_SIGNING_KEY);
  const directory = createServiceClient(DirectoryService, address);
  const caller = systemCaller('local-setup');
  const known = await directory.resolveIdentity({ email: adminEmail, issuer }, { caller });
  if (known.found) {
    console.log(`${adminEmail} already has access (firm ${known.firmId}): nothing to do`);
    return;
  }
  // No password: in a cluster people sign in at the identity provider, and the directory takes the
  // provider's word for the address on the first token (the admin's invitation becomes active then).
  const { firm } = await directory.registerFirm(
    {
      name: 'Demo Accountants',
      functionalEmail: 'office@demo.kantoor.localhost',
      language: 'en',
      adminName: 'Demo Admin',
      adminEmail,
    },
    { caller },
  );
  console.log(`registered ${firm.name} (firm ${firm.id}) with ${adminEmail} as its admin`);
}

registerDemoFirm().then(
  () => process.exit(0),
  (error) => {
    console.error(`the demo firm could not be registered: ${error.message}`);
    process.exit(1);
  },
);
