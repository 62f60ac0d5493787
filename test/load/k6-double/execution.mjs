// k6/execution, as run.mjs counts iterations
const { execution } = globalThis.k6Double;
export const { scenario } = execution;
export default execution;
