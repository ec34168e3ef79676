/**
 * Compiles the WebAssembly text under proxy/dlp/wasm/ into the TypeScript modules beside it
 * (`NAME.wasm.ts`, the module's bytes in base64), so the proxy needs neither a WAT toolchain nor
 * a binary file at run time. `npm run build:wasm` writes them; test/unit/dlp/base64-runs.test.ts
 * checks that the committed modules are what the .wat files compile to.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const WASM_DIR = fileURLToPath(new URL('../../../proxy/dlp/wasm/', import.meta.url));

/** The .wat files to compile, by base name. */
export function watNames(): string[] {
  return readdirSync(WASM_DIR).filter((f) => f.endsWith('.wat')).map((f) => f.slice(0, -'.wat'.length)).sort();
}

/** Binary of `NAME.wat` (wabt is a devDependency: only this tool and its test load it). */
export async function compileWat(name: string): Promise<Uint8Array> {
  const { default: initWabt } = await import('wabt');
  const wabt = await initWabt();
  const mod = wabt.parseWat(`${name}.wat`, readFileSync(join(WASM_DIR, `${name}.wat`), 'utf8'), { simd: true });
  try {
    mod.validate();
    return mod.toBinary({}).buffer;
  } finally {
    mod.destroy();
  }
}

/** The TypeScript module that carries `bytes`. */
export function wasmModuleSource(name: string, bytes: Uint8Array): string {
  const ident = `${name.replace(/[^A-Za-z0-9]+/g, '_').toUpperCase()}_WASM`;
  return `// Generated from ${name}.wat by \`npm run build:wasm\` (test/tools/build-wasm.ts): do not edit.\n`
    + `export const ${ident} = '${Buffer.from(bytes).toString('base64')}';\n`;
}

async function main(): Promise<void> {
  for (const name of watNames()) {
    const out = join(WASM_DIR, `${name}.wasm.ts`);
    writeFileSync(out, wasmModuleSource(name, await compileWat(name)));
    console.log(`wrote ${out}`);
  }
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) await main();
