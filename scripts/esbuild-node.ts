/**
 * What every esbuild bundle of Cairn that runs under plain node shares (functions/build.ts,
 * cli/build.ts; agent/build.ts takes the banner): a `require` for the bundled CommonJS
 * dependencies, and Node's built-in modules taken without an ESM facade.
 */
import { builtinModules } from 'node:module';
import type { Plugin } from 'esbuild';

/** Bundled CommonJS dependencies call require(); give the ESM bundle one. */
export const REQUIRE_BANNER =
  "import { createRequire as __cairnRequire } from 'node:module'; const require = __cairnRequire(import.meta.url);";

/**
 * Node's built-in modules, taken with `process.getBuiltinModule` (Node ≥ 20.16; `require` before)
 * instead of `import`. An ESM import of a built-in builds a module facade that reads every export,
 * getters included: `node:http`'s lazy WebSocket getter then loads Node's internal undici, 10–50 ms
 * of a cold start for nothing (seen with --cpu-prof; faas-js-runtime, which requires its built-ins,
 * never pays it). As CommonJS modules, esbuild reads the one property a call site uses, when it runs.
 */
export const builtinsWithoutFacades: Plugin = {
  name: 'builtins-without-facades',
  setup(b) {
    const names = builtinModules.map((m) => m.replace(/[/]/g, '\\/')).join('|');
    b.onResolve({ filter: new RegExp(`^(node:)?(${names})$`) }, (args) => {
      const path = args.path.startsWith('node:') ? args.path : `node:${args.path}`;
      // `await import('node:https')` stays Node's own: bundled with code splitting, a CommonJS
      // module imported dynamically would offer only `default`. Its facade is paid when it loads.
      if (args.kind === 'dynamic-import') return { path, external: true };
      return { path, namespace: 'builtin' };
    });
    b.onLoad({ filter: /.*/, namespace: 'builtin' }, (args) => {
      const name = JSON.stringify(args.path);
      // `__cairnRequire` is REQUIRE_BANNER's import, left alone by esbuild as a free name; any
      // absolute base resolves a built-in.
      return {
        contents: `module.exports = typeof process.getBuiltinModule === 'function' ? process.getBuiltinModule(${name}) : __cairnRequire('/')(${name});`,
        loader: 'js',
      };
    });
  },
};
