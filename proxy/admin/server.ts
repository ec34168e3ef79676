/**
 * The admin listener (off unless `admin:` is set; bind it to loopback): /healthz (process is
 * up), /readyz (the proxy listener accepts), /metrics (Prometheus text), /limits?agent=ID
 * (live limiter usage, for `warden explain --admin`). Read-only: nothing here changes state.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { WardenProxy } from '../server/proxy.js';
import type { Metrics } from './metrics.js';

export async function startAdmin(host: string, port: number, metrics: Metrics, proxy: WardenProxy): Promise<{ server: Server; address: AddressInfo }> {
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://admin');
    const send = (status: number, body: string, type = 'text/plain; charset=utf-8'): void => {
      res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
      res.end(body);
    };
    if (req.method !== 'GET') return send(405, 'method not allowed\n');
    switch (url.pathname) {
      case '/healthz':
        return send(200, 'ok\n');
      case '/readyz':
        return proxy.server.listening ? send(200, 'ready\n') : send(503, 'not listening\n');
      case '/metrics':
        void metrics.registry.metrics().then((text) => send(200, text, metrics.registry.contentType), () => send(500, 'metrics failed\n'));
        return;
      case '/limits': {
        const agent = url.searchParams.get('agent');
        const cfg = proxy.config;
        const a = agent ? cfg.agents.find((x) => x.id === agent) : null;
        const profile = cfg.profiles.get(a?.profile ?? 'default');
        if (!profile) return send(404, '{"error":"unknown profile"}', 'application/json');
        const key = a ? a.id : `ip:${url.searchParams.get('ip') ?? '127.0.0.1'}`;
        const q = proxy.detection.isQuarantined(key);
        return send(200, JSON.stringify({ agent: a?.id ?? null, profile: profile.name, usage: proxy.limiter.usage(key, profile), quarantined: q ? { until: new Date(q.untilMs).toISOString(), rule: q.rule } : null }), 'application/json');
      }
      default:
        return send(404, 'not found\n');
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  return { server, address: server.address() as AddressInfo };
}
