// CPU time and resident memory of a process tree, read from /proc (Linux only).
import { readdirSync, readFileSync } from 'node:fs';

const CLK_TCK = 100; // sysconf(_SC_CLK_TCK) on every Linux this project targets
const PAGE = 4096;

interface Stat {
  readonly pid: number;
  readonly ppid: number;
  /** utime+stime+cutime+cstime, in clock ticks */
  readonly ticks: number;
  readonly rssBytes: number;
}

function readStat(pid: number): Stat | null {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'latin1');
  } catch {
    return null; // gone
  }
  // "pid (comm) state ppid ..." — comm may contain spaces and parentheses.
  const close = text.lastIndexOf(')');
  if (close < 0) return null;
  const f = text.slice(close + 2).split(' ');
  // f[0] = state (field 3), so field N is f[N - 3].
  const num = (field: number): number => Number(f[field - 3] ?? 0);
  return {
    pid,
    ppid: num(4),
    ticks: num(14) + num(15) + num(16) + num(17),
    rssBytes: num(24) * PAGE,
  };
}

function allStats(): Stat[] {
  const out: Stat[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const st = readStat(Number(name));
    if (st) out.push(st);
  }
  return out;
}

/** The root and all its live descendants. */
function tree(root: number): Stat[] {
  const stats = allStats();
  const children = new Map<number, Stat[]>();
  let rootStat: Stat | undefined;
  for (const s of stats) {
    if (s.pid === root) rootStat = s;
    const list = children.get(s.ppid);
    if (list) list.push(s);
    else children.set(s.ppid, [s]);
  }
  if (!rootStat) return [];
  const out: Stat[] = [rootStat];
  for (let i = 0; i < out.length; i++) {
    const cur = out[i];
    if (!cur) break;
    for (const c of children.get(cur.pid) ?? []) out.push(c);
  }
  return out;
}

export interface TreeSample {
  /** utime+stime of the tree (plus reaped children), milliseconds */
  readonly cpuMs: number;
  /** sum of RSS over the tree, bytes */
  readonly rssBytes: number;
  readonly pids: number;
}

export function sampleTree(root: number): TreeSample {
  const t = tree(root);
  let ticks = 0;
  let rss = 0;
  for (const s of t) {
    ticks += s.ticks;
    rss += s.rssBytes;
  }
  return { cpuMs: (ticks * 1000) / CLK_TCK, rssBytes: rss, pids: t.length };
}

/** Samples a tree's RSS periodically and keeps the peak (sum over the tree). */
export class RssWatcher {
  private timer: NodeJS.Timeout | null = null;
  peak = 0;
  constructor(
    private readonly root: number,
    private readonly everyMs = 100,
  ) {}
  start(): void {
    this.peak = Math.max(this.peak, sampleTree(this.root).rssBytes);
    this.timer = setInterval(() => {
      this.peak = Math.max(this.peak, sampleTree(this.root).rssBytes);
    }, this.everyMs);
    this.timer.unref();
  }
  stop(): number {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.peak = Math.max(this.peak, sampleTree(this.root).rssBytes);
    return this.peak;
  }
}

/** Window over which the proxy tree's CPU is measured. */
export class CpuWindow {
  private startMs = 0;
  constructor(private readonly root: number | null) {}
  begin(): void {
    this.startMs = this.root === null ? 0 : sampleTree(this.root).cpuMs;
  }
  /** CPU ms spent by the tree since begin(); NaN when there is no proxy process. */
  end(): number {
    if (this.root === null) return Number.NaN;
    return sampleTree(this.root).cpuMs - this.startMs;
  }
}
