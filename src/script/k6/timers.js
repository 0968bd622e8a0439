// `k6/timers`: the same timers as the globals (setTimeout, clearTimeout, setInterval,
// clearInterval). They run after the iteration's function returns, in due order, before the
// iteration ends, as k6's event loop runs them.
export const setTimeout = globalThis.setTimeout;
export const clearTimeout = globalThis.clearTimeout;
export const setInterval = globalThis.setInterval;
export const clearInterval = globalThis.clearInterval;
export default { setTimeout, clearTimeout, setInterval, clearInterval };
