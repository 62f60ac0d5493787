// k6/http's requests, as run.mjs records them
const { http } = globalThis.k6Double;
export const { get, post } = http;
export default http;
