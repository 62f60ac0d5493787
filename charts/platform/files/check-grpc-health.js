// helm test: every gRPC service answers grpc.health.v1.Health/Check with SERVING.
// Runs as `node -e` in the gateway image (working directory gateway/, which ships @grpc/grpc-js).
// The messages are encoded by hand to avoid shipping the health proto: an empty HealthCheckRequest
// asks for the server as a whole, and SERVING is field 1 = enum 1, the bytes 08 01.
const grpc = require('@grpc/grpc-js');
const targets = (process.env.GRPC_TARGETS || '').split(',').filter(Boolean);
const timeoutMs = Number(process.env.CHECK_TIMEOUT_MS || 5000);
const serving = Buffer.from([0x08, 0x01]);

function check(target) {
  return new Promise((resolve) => {
    const client = new grpc.Client(target, grpc.credentials.createInsecure());
    const identity = (bytes) => bytes;
    client.makeUnaryRequest(
      '/grpc.health.v1.Health/Check',
      identity,
      identity,
      Buffer.alloc(0),
      { deadline: Date.now() + timeoutMs },
      (error, response) => {
        client.close();
        if (error) resolve(`${target}: ${error.message}`);
        else if (!serving.equals(response)) resolve(`${target}: not serving (response ${response.toString('hex')})`);
        else resolve(null);
      },
    );
  });
}

if (targets.length === 0) {
  console.error('GRPC_TARGETS is empty');
  process.exit(1);
}
Promise.all(targets.map(check)).then((failures) => {
  const failed = failures.filter(Boolean);
  for (const target of targets) if (!failed.some((f) => f.startsWith(`${target}:`))) console.log(`${target}: SERVING`);
  for (const failure of failed) console.error(failure);
  process.exit(failed.length === 0 ? 0 : 1);
});
