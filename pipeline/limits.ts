/**
 * Maximum build time limit, in seconds. Node's timers take a delay of at
 * most 2^31-1 milliseconds and fire a longer one at once.
 */
export const MAX_TIMEOUT_SECONDS = Math.floor((2 ** 31 - 1) / 1000);
