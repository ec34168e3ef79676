// Launcher for the http-mitm-proxy peer (run as its own process by the benchmark).
//   node http-mitm-proxy.js --port N --ca-dir DIR --upstream-ca FILE --upstream-port N
// bench.test and *.bench.test are resolved to 127.0.0.1 (SNI and Host unchanged), the upstream
// certificate is verified against the test CA, and tunnel.bench.test is passed through unopened.
import { readFileSync } from 'node:fs';
import { Agent } from 'node:https';
import type { LookupFunction } from 'node:net';
import { Proxy } from 'http-mitm-proxy';
import { spliceTunnel } from '../lib/tunnel.js';

function arg(name: string): string {
  const i = process.argv.indexOf(`--${name}`);
  const v = i >= 0 ? process.argv[i + 1] : undefined;
  if (v === undefined) {
    process.stderr.write(`http-mitm-proxy launcher: missing --${name}\n`);
    process.exit(2);
  }
  return v;
}

const port = Number(arg('port'));
const upstreamPort = Number(arg('upstream-port'));
const isBench = (h: string): boolean => h === 'bench.test' || h.endsWith('.bench.test');

const lookup = ((hostname: string, options: { all?: boolean }, cb: (...a: unknown[]) => void): void => {
  if (!isBench(hostname)) {
    cb(new Error(`bench: no address for ${hostname}`));
    return;
  }
  if (options.all) cb(null, [{ address: '127.0.0.1', family: 4 }]);
  else cb(null, '127.0.0.1', 4);
}) as unknown as LookupFunction;

const httpsAgent = new Agent({ keepAlive: true, ca: readFileSync(arg('upstream-ca')), lookup });

const proxy = new Proxy();
proxy.onError((_ctx, err, kind) => {
  process.stderr.write(`http-mitm-proxy: ${kind ?? ''} ${err?.message ?? ''}\n`);
});
proxy.onConnect((req, socket, head, callback) => {
  const target = req.url ?? '';
  if (!target.startsWith('tunnel.bench.test:')) {
    callback();
    return;
  }
  spliceTunnel(socket, head, upstreamPort);
});
proxy.onRequest((ctx, callback) => {
  const opts = ctx.proxyToServerRequestOptions;
  if (ctx.isSSL && opts && typeof opts.host === 'string' && isBench(opts.host)) opts.port = upstreamPort;
  callback();
});
proxy.listen(
  { host: '127.0.0.1', port, sslCaDir: arg('ca-dir'), keepAlive: true, httpsAgent },
  (err?: unknown) => {
    if (err) {
      process.stderr.write(`http-mitm-proxy: listen failed: ${String(err)}\n`);
      process.exit(1);
    }
    process.stdout.write(`READY ${port}\n`);
  },
);
const stop = (): void => {
  proxy.close();
  process.exit(0);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
