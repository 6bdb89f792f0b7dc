/**
 * A port whose adapter is built on first use. A composition root can then serve several
 * functions, each bound to only some tables: a function that never calls a port never needs
 * that port's table, and one that does fails loudly, naming the missing binding.
 */
export const lazyPort = <T extends object>(make: () => T): T => {
  let port: T | undefined;
  return new Proxy({} as T, {
    get: (_target, property) => {
      port ??= make();
      const value = (port as Record<PropertyKey, unknown>)[property];
      return typeof value === 'function' ? value.bind(port) : value;
    },
  });
};
