// How the benchmarks summarize and print their rounds.

/** `n` with `d` decimals, or n/a where a number could not be read */
export const fmt = (n, d = 0) => (Number.isFinite(n) ? n.toFixed(d) : 'n/a');

/** the middle value (the mean of the two middle ones for an even count): one round disturbed by a neighbour does not move it */
export const median = (values) => {
  const v = [...values].sort((x, y) => x - y);
  return v.length % 2 === 1 ? v[(v.length - 1) / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
};
