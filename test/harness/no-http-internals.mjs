// Preload (`node --import`) that makes this process a Node.js without the HTTP internals the fast
// proxy engine reads: `_http_common` (the llhttp binding) cannot be resolved, by require or import,
// with or without `node:`, and `process.binding` throws (as it may once DEP0111 ends). Public
// modules (node:http, node:net, ...) load as usual. Needs module.registerHooks (Node >= 22.15).
import { registerHooks } from 'node:module';

const HIDDEN = new Set(['_http_common', 'node:_http_common']);

registerHooks({
  resolve(specifier, context, nextResolve) {
    if (HIDDEN.has(specifier)) {
      const err = new Error(`Cannot find module '${specifier}' (hidden by test/harness/no-http-internals.mjs)`);
      err.code = 'MODULE_NOT_FOUND';
      throw err;
    }
    return nextResolve(specifier, context);
  },
});

process.binding = (name) => {
  throw new Error(`process.binding('${name}') is unavailable (test/harness/no-http-internals.mjs)`);
};
