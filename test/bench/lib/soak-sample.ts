// What the soak benchmark (test/bench/soak.ts) reads from the proxy between rounds: the heap
// after GC and the active resources over IPC (peers/heap-probe.ts), open file descriptors and
// what they point at from /proc/<pid>/fd (sockets matched to /proc/net/{tcp,tcp6,unix} by inode),
// RSS and threads from /proc/<pid>/status; and per-constructor counts of two heap snapshots.
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import type { Child } from './children.js';
import type { HeapReply, SnapshotReply } from '../peers/heap-probe.js';

// ------------------------------------------------------------------------------ IPC heap probe
function ask<T extends { type: string }>(child: Child, msg: { type: string; path?: string }, timeoutMs: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const onMessage = (m: unknown): void => {
      const r = m as { type?: unknown } | null;
      if (r?.type !== msg.type) return;
      done();
      resolve(m as T);
    };
    const onExit = (): void => {
      done();
      reject(new Error(`${child.name} exited while asked for ${msg.type}`));
    };
    const done = (): void => {
      clearTimeout(timer);
      child.proc.off('message', onMessage);
      child.proc.off('exit', onExit);
    };
    const timer = setTimeout(() => {
      done();
      reject(new Error(`${child.name}: no ${msg.type} reply in ${timeoutMs} ms (is peers/heap-probe.js preloaded?)`));
    }, timeoutMs);
    child.proc.on('message', onMessage);
    child.proc.once('exit', onExit);
    if (!child.proc.send?.(msg)) {
      done();
      reject(new Error(`${child.name}: no IPC channel`));
    }
  });
}

/** Heap after full GC, external memory and active resources of a child running the heap probe. */
export function probeHeap(child: Child, timeoutMs = 30_000): Promise<HeapReply> {
  return ask<HeapReply>(child, { type: 'heap' }, timeoutMs);
}

/** Has the child write a heap snapshot to `path` (blocks it for a few seconds). */
export async function writeSnapshot(child: Child, path: string, timeoutMs = 120_000): Promise<string> {
  const r = await ask<SnapshotReply>(child, { type: 'snapshot', path }, timeoutMs);
  if (r.error) throw new Error(`heap snapshot: ${r.error}`);
  return r.path;
}

// ------------------------------------------------------------------------------ /proc
/** Ports that tell the proxy's sockets apart. */
export interface PortRoles {
  readonly proxy: number;
  readonly admin: number;
  readonly upstream: number;
}

export interface FdCensus {
  readonly fds: number;
  readonly sockets: number;
  /**
   * FDs by what they point at: `tcp listen`, `tcp client` (accepted on the proxy port),
   * `tcp admin`, `tcp upstream` (dialled to the upstream), `tcp other <state>`, `unix`,
   * `socket ?` (inode in no table), `pipe`, `anon:<kind>`, `file`, `dev`.
   */
  readonly byKind: Record<string, number>;
}

interface TcpEntry {
  readonly localPort: number;
  readonly remotePort: number;
  readonly state: string;
}

const TCP_STATES: Readonly<Record<string, string>> = {
  '01': 'ESTABLISHED', '02': 'SYN_SENT', '03': 'SYN_RECV', '04': 'FIN_WAIT1', '05': 'FIN_WAIT2', '06': 'TIME_WAIT',
  '07': 'CLOSE', '08': 'CLOSE_WAIT', '09': 'LAST_ACK', '0A': 'LISTEN', '0B': 'CLOSING',
};

function tcpTable(pid: number): Map<string, TcpEntry> {
  const out = new Map<string, TcpEntry>();
  for (const file of ['tcp', 'tcp6']) {
    let text: string;
    try {
      text = readFileSync(`/proc/${pid}/net/${file}`, 'latin1');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      // sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
      const f = line.trim().split(/\s+/);
      const local = f[1];
      const remote = f[2];
      const inode = f[9];
      if (!local || !remote || !inode) continue;
      out.set(inode, {
        localPort: parseInt(local.slice(local.lastIndexOf(':') + 1), 16),
        remotePort: parseInt(remote.slice(remote.lastIndexOf(':') + 1), 16),
        state: TCP_STATES[f[3] ?? ''] ?? (f[3] ?? '?'),
      });
    }
  }
  return out;
}

function unixInodes(pid: number): Set<string> {
  const out = new Set<string>();
  try {
    for (const line of readFileSync(`/proc/${pid}/net/unix`, 'latin1').split('\n').slice(1)) {
      const inode = line.trim().split(/\s+/)[6];
      if (inode) out.add(inode);
    }
  } catch {
    /* no table */
  }
  return out;
}

function socketKind(inode: string, tcp: Map<string, TcpEntry>, unix: Set<string>, ports: PortRoles): string {
  const t = tcp.get(inode);
  if (t) {
    if (t.state === 'LISTEN') return 'tcp listen';
    if (t.localPort === ports.proxy) return t.state === 'ESTABLISHED' ? 'tcp client' : `tcp client ${t.state}`;
    if (t.localPort === ports.admin) return 'tcp admin';
    if (t.remotePort === ports.upstream) return t.state === 'ESTABLISHED' ? 'tcp upstream' : `tcp upstream ${t.state}`;
    return `tcp other ${t.state}`;
  }
  return unix.has(inode) ? 'unix' : 'socket ?';
}

/** The targets of `/proc/<pid>/fd/*`, in FD order (for a leak report). */
export function fdTargets(pid: number): Array<{ fd: number; target: string }> {
  const out: Array<{ fd: number; target: string }> = [];
  let names: string[];
  try {
    names = readdirSync(`/proc/${pid}/fd`);
  } catch {
    return out;
  }
  for (const n of names) {
    try {
      out.push({ fd: Number(n), target: readlinkSync(`/proc/${pid}/fd/${n}`) });
    } catch {
      /* closed meanwhile */
    }
  }
  return out.sort((a, b) => a.fd - b.fd);
}

/** Open FDs of `pid`, how many are sockets, and what each points at. */
export function fdCensus(pid: number, ports: PortRoles): FdCensus {
  const targets = fdTargets(pid);
  const tcp = tcpTable(pid);
  const unix = unixInodes(pid);
  const byKind: Record<string, number> = {};
  let sockets = 0;
  for (const { target } of targets) {
    let kind: string;
    const sock = /^socket:\[(\d+)\]$/.exec(target);
    if (sock?.[1] !== undefined) {
      sockets++;
      kind = socketKind(sock[1], tcp, unix, ports);
    } else if (target.startsWith('pipe:')) kind = 'pipe';
    else if (target.startsWith('anon_inode:')) kind = `anon:${target.slice('anon_inode:'.length).replace(/[[\]]/g, '')}`;
    else if (target.startsWith('/dev/')) kind = 'dev';
    else kind = 'file';
    byKind[kind] = (byKind[kind] ?? 0) + 1;
  }
  return { fds: targets.length, sockets, byKind };
}

/** VmRSS (bytes) and thread count from /proc/<pid>/status. */
export function procStatus(pid: number): { vmRssBytes: number; threads: number } {
  let text = '';
  try {
    text = readFileSync(`/proc/${pid}/status`, 'latin1');
  } catch {
    /* gone */
  }
  const kb = Number(/^VmRSS:\s+(\d+)\s+kB/m.exec(text)?.[1] ?? Number.NaN);
  return { vmRssBytes: kb * 1024, threads: Number(/^Threads:\s+(\d+)/m.exec(text)?.[1] ?? Number.NaN) };
}

// ------------------------------------------------------------------------------ heap snapshots
/** Object count and self size per constructor (or node kind) in a `.heapsnapshot`. */
export type SnapshotCounts = Map<string, { count: number; bytes: number }>;

interface RawSnapshot {
  snapshot: { meta: { node_fields: string[]; node_types: unknown[] } };
  nodes: number[];
  strings: string[];
}

/**
 * Counts the nodes of a V8 heap snapshot by constructor: `object` nodes by their constructor
 * name, closures as `closure <name>`, other kinds as `(kind)` (strings, code, arrays, ...).
 */
export function countSnapshot(path: string): SnapshotCounts {
  const snap = JSON.parse(readFileSync(path, 'utf8')) as RawSnapshot;
  const fields = snap.snapshot.meta.node_fields;
  const kinds = snap.snapshot.meta.node_types[0] as string[];
  const width = fields.length;
  const typeAt = fields.indexOf('type');
  const nameAt = fields.indexOf('name');
  const sizeAt = fields.indexOf('self_size');
  const out: SnapshotCounts = new Map();
  for (let i = 0; i < snap.nodes.length; i += width) {
    const kind = kinds[snap.nodes[i + typeAt] ?? 0] ?? '?';
    if (kind === 'synthetic') continue;
    const name = snap.strings[snap.nodes[i + nameAt] ?? 0] ?? '?';
    const key = kind === 'object' || kind === 'native' ? name : kind === 'closure' ? `closure ${name}` : `(${kind})`;
    const e = out.get(key) ?? { count: 0, bytes: 0 };
    e.count++;
    e.bytes += snap.nodes[i + sizeAt] ?? 0;
    out.set(key, e);
  }
  return out;
}

/** The constructors whose count grew most from `a` to `b`. */
export function diffCounts(a: SnapshotCounts, b: SnapshotCounts, top = 20): Array<{ name: string; countA: number; countB: number; bytesDelta: number }> {
  const rows: Array<{ name: string; countA: number; countB: number; bytesDelta: number }> = [];
  for (const name of new Set([...a.keys(), ...b.keys()])) {
    const x = a.get(name) ?? { count: 0, bytes: 0 };
    const y = b.get(name) ?? { count: 0, bytes: 0 };
    if (y.count !== x.count || y.bytes !== x.bytes) rows.push({ name, countA: x.count, countB: y.count, bytesDelta: y.bytes - x.bytes });
  }
  return rows.sort((p, q) => q.countB - q.countA - (p.countB - p.countA) || q.bytesDelta - p.bytesDelta).slice(0, top);
}
