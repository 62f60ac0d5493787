// helm test: the gateway answers its readiness endpoint with a 2xx status.
// Runs as `node -e` inside the gateway image, so it needs nothing but Node's own fetch.
const url = process.env.GATEWAY_READY_URL;
fetch(url, { signal: AbortSignal.timeout(Number(process.env.CHECK_TIMEOUT_MS || 5000)) }).then(
  (response) => {
    console.log(`${url} answered ${response.status}`);
    process.exit(response.ok ? 0 : 1);
  },
  (error) => {
    console.error(`${url} did not answer: ${error.message}`);
    process.exit(1);
  },
);
