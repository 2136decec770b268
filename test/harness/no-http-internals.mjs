// Preload (`node --import`) that takes away the Node internals the fast proxy engine rests on,
// as a Node.js release that drops them would: `_http_common` no longer resolves and
// `process.binding` throws. Public modules (node:http, node:net, ...) stay.
import { registerHooks } from 'node:module';

registerHooks({
  resolve(specifier, context, nextResolve) {
    if (specifier === '_http_common' || specifier === 'node:_http_common') {
      throw Object.assign(new Error(`Cannot find module '${specifier}' (hidden by the test)`), { code: 'MODULE_NOT_FOUND' });
    }
    return nextResolve(specifier, context);
  },
});

process.binding = (name) => {
  throw new Error(`process.binding('${name}') is not available (hidden by the test)`);
};
