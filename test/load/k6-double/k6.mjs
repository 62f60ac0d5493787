// k6's `check` and `fail`, as run.mjs records them
const { k6 } = globalThis.k6Double;
export const { check, fail } = k6;
export default k6;
