/**
 * The `re2` binding, loaded through createRequire: re2 is a CommonJS module declared with
 * `export =`, and tsconfig has neither esModuleInterop nor allowSyntheticDefaultImports, so a
 * default import does not type-check. This file is the one place that knows.
 */
import { createRequire } from 'node:module';

type RE2Module = typeof import('re2');

export const RE2: RE2Module = createRequire(import.meta.url)('re2') as RE2Module;
/** Instance type of a compiled RE2 pattern. */
export type RE2Instance = RE2Module['prototype'];
/** Instance type of an RE2.Set. */
export type RE2SetInstance = RE2Module['Set']['prototype'];
