/**
 * The compiled, immutable configuration that request code sees. Only config/load.ts
 * builds it (from YAML, after validation); everything else reads it. Units live in names.
 */

export interface HostPort { readonly host: string; readonly port: number }

/** An IPv4 or IPv6 network (`10.0.0.0/8`, `fc00::/7`); built by policy/address.ts parseCidr. */
export interface Cidr {
  readonly family: 4 | 6;
  /** Network address bytes (4 or 16), already masked to `prefix`. */
  readonly bytes: Uint8Array;
  readonly prefix: number;
  /** The text as written, for messages and audit. */
  readonly text: string;
}

export type DlpAction = 'redact' | 'block' | 'log';

/** One `profiles.NAME.allow[i]` entry. */
export interface CompiledAllowRule {
  /** Config path of the entry, e.g. `profiles.default.allow[1]`: the audit `rule` field. */
  readonly id: string;
  /** Normalised host (lowercase, punycode, no trailing dot), or `*.suffix` for sub-domains at any depth. */
  readonly host: string;
  readonly ports: readonly number[];
  /** Upper-case methods, or null for any method. */
  readonly methods: readonly string[] | null;
  /** Path globs as written (`/v1/*`), or null for any path. Matched by policy/decide.ts. */
  readonly paths: readonly string[] | null;
  readonly inspect: boolean;
  /** Request headers that carry the agent's own credential for this destination: not DLP-scanned. */
  readonly credentialHeaders: readonly string[];
  /** Per-destination request-rate override (`requests: "60 per 1m"` on the entry), else null. */
  readonly requests: { readonly amount: number; readonly windowMs: number } | null;
}

export interface CompiledDenyRule { readonly id: string; readonly host: string }

export interface CompiledLimits {
  /** Largest request body accepted; null means no cap beyond the inspection cap. */
  readonly maxBodyBytes: number | null;
  readonly upload: { readonly bytes: number; readonly windowMs: number } | null;
  readonly requests: { readonly amount: number; readonly windowMs: number } | null;
}

export interface CompiledDlpPolicy {
  /** Pack names in force for this profile (`pii`, `secrets`, `archives`, custom ones). */
  readonly packs: readonly string[];
  /** Action per finding type; `default` applies to types not listed. Honeytokens always block. */
  readonly actions: Readonly<Record<string, DlpAction>>;
  readonly defaultAction: DlpAction | null;
  /** Block the body when it holds at least this many distinct PII values (bulk export); null = off. */
  readonly bulkPiiThreshold: number | null;
  /** What to do with a body that cannot be inspected: refuse (`block`, the default) or pass it. */
  readonly uninspectable: 'block' | 'allow';
  /** Bodies larger than this are not buffered for inspection (and are uninspectable). */
  readonly maxInspectBytes: number;
}

export interface CompiledProfile {
  readonly name: string;
  readonly allow: readonly CompiledAllowRule[];
  readonly deny: readonly CompiledDenyRule[];
  readonly limits: CompiledLimits;
  readonly dlp: CompiledDlpPolicy;
}

export interface CompiledAgent {
  readonly id: string;
  /** SHA-256 of the agent's token (32 bytes). Tokens themselves are never in config. */
  readonly tokenSha256: Buffer;
  readonly profile: string;
  /** Source networks that identify this agent without credentials (sidecars). */
  readonly sources: readonly Cidr[];
}

export interface Honeytoken {
  readonly id: string;
  /** Exactly one of value / sha256 (hex, lowercase) is set. */
  readonly value: string | null;
  readonly sha256: string | null;
}

export type AlertKind = 'upload_bytes' | 'requests_to' | 'dlp_blocks' | 'archive_upload';

export interface AlertRule {
  /** `alerts[i].name`: the `rule` field of the alert audit record. */
  readonly name: string;
  readonly kind: AlertKind;
  /** Fires when the windowed figure is > over (if set) or >= atLeast (if set). */
  readonly over: number | null;
  readonly atLeast: number | null;
  readonly windowMs: number;
  /** For `requests_to`: `host` or `host/path-prefix` entries, normalised. */
  readonly targets: readonly string[];
  readonly severity: 'info' | 'warning' | 'critical';
  /** `action: block 10m` → quarantine the agent this long; null = alert only. */
  readonly quarantineMs: number | null;
}

export interface AuditFileConfig {
  readonly path: string;
  readonly rotateBytes: number | null;
  readonly rotateDaily: boolean;
  /** always: fsync after every record; checkpoint: at each checkpoint and on close; never: leave it to the OS. */
  readonly fsync: 'always' | 'checkpoint' | 'never';
}

export interface AuditHttpConfig {
  readonly url: string;
  readonly format: 'json' | 'splunk-hec' | 'elastic-bulk';
  /** Name of the environment variable holding the SIEM token (never the token itself). */
  readonly tokenEnv: string | null;
  readonly spoolDir: string;
  readonly spoolMaxBytes: number;
  readonly batchSize: number;
  readonly flushIntervalMs: number;
  /** Extra CA for the SIEM's TLS certificate. */
  readonly caFile: string | null;
}

export interface AuditConfig {
  readonly file: AuditFileConfig | null;
  readonly stdout: boolean;
  readonly http: AuditHttpConfig | null;
  /** Ed25519 private key (PEM, created 0600 on first start). */
  readonly signKeyPath: string;
  readonly checkpointEvery: number;
  readonly checkpointIntervalMs: number;
  /** `warden`: DESIGN.md's record; `ocsf`: OCSF HTTP Activity / Detection Finding. */
  readonly format: 'warden' | 'ocsf';
}

export interface UpstreamConfig {
  readonly caFile: string | null;
  /** `host:port` (normalised) → where to dial instead. Targets pass the address guard too. */
  readonly connectTo: ReadonlyMap<string, HostPort>;
  readonly allowPrivate: readonly Cidr[];
  readonly connectTimeoutMs: number;
  readonly headersTimeoutMs: number;
  readonly bodyTimeoutMs: number;
}

export interface ServerLimits {
  readonly maxConnections: number;
  readonly maxHeaderBytes: number;
  /** Time a client has to send a complete request head. */
  readonly headersTimeoutMs: number;
  readonly idleTimeoutMs: number;
  /** How long a client connection may sit idle between requests (Node closes it about 1 s later). */
  readonly keepAliveTimeoutMs: number;
  /** Global cap on request bytes buffered for inspection across all in-flight requests (503 past it). */
  readonly maxInspectBufferBytes: number;
  /** How long SIGTERM waits for in-flight requests. */
  readonly drainTimeoutMs: number;
  /**
   * Minted leaf certificates kept ready (each with its TLS context: ~30 KiB of native memory),
   * least recently used evicted. Read at start only.
   */
  readonly maxCachedLeaves: number;
}

export interface DlpGlobalConfig {
  /** Extra pack files (absolute paths) named in config `dlp.packs`. */
  readonly packFiles: readonly string[];
  /**
   * Worker threads that inspect bodies of 256 KiB and more off the event loop (`dlp.workers`;
   * 0 = inline). Default: one less than the CPUs, at least 1, at most 4.
   */
  readonly workers: number;
}

export interface CompiledConfig {
  /** Absolute path of the file this was loaded from. */
  readonly file: string;
  readonly listen: HostPort;
  readonly admin: HostPort | null;
  readonly mode: 'enforce' | 'report';
  readonly caDir: string;
  readonly auth: 'required' | 'optional' | 'off';
  readonly agents: readonly CompiledAgent[];
  readonly profiles: ReadonlyMap<string, CompiledProfile>;
  readonly upstream: UpstreamConfig;
  readonly honeytokens: readonly Honeytoken[];
  readonly alerts: readonly AlertRule[];
  readonly audit: AuditConfig;
  readonly dlp: DlpGlobalConfig;
  readonly server: ServerLimits;
}
