/**
 * The raw shape of warden.yaml, as a zod schema: types and unknown keys only (every object is
 * strict, so a misspelt key is an error). Values that need parsing (sizes, durations, hosts,
 * CIDRs) are checked by compile.ts, which reports them with the same `key.path` form.
 */
import { z } from 'zod';

const str = z.string().min(1, 'must not be empty');
const sizeLike = z.union([z.string(), z.number()]);
const strList = z.array(str);

const allowEntry = z.union([
  str,
  z.strictObject({
    host: str,
    ports: z.array(z.number().int()).min(1).optional(),
    methods: strList.optional(),
    paths: strList.optional(),
    inspect: z.boolean().optional(),
    credential_headers: strList.optional(),
    requests: z.string().optional(),
  }),
]);

const dlpProfile = z.strictObject({
  packs: strList.optional(),
  actions: z.record(z.string(), z.enum(['redact', 'block', 'log'])).optional(),
  bulk_pii_threshold: z.union([z.number().int().min(1), z.null()]).optional(),
  uninspectable: z.enum(['block', 'allow']).optional(),
  max_inspect: sizeLike.optional(),
});

const profile = z.strictObject({
  allow: z.array(allowEntry).optional(),
  deny: strList.optional(),
  limits: z
    .strictObject({
      max_body: sizeLike.optional(),
      upload: z.string().optional(),
      requests: z.string().optional(),
    })
    .optional(),
  dlp: dlpProfile.optional(),
});

const agent = z.strictObject({
  id: str,
  token_sha256: z.string().optional(),
  // Present only so that check can say precisely why a plaintext token is refused.
  token: z.unknown().optional(),
  profile: str.optional(),
  sources: strList.optional(),
});

const honeytoken = z.strictObject({
  id: str,
  value: str.optional(),
  sha256: z.string().optional(),
});

const alert = z.strictObject({
  name: str,
  when: z.enum(['upload_bytes', 'requests_to', 'dlp_blocks', 'archive_upload']),
  over: sizeLike.optional(),
  at_least: sizeLike.optional(),
  within: sizeLike.optional(),
  hosts: strList.optional(),
  severity: z.enum(['info', 'warning', 'critical']).optional(),
  action: z.string().optional(),
});

const audit = z.strictObject({
  file: z.union([str, z.null()]).optional(),
  rotate_size: sizeLike.optional(),
  rotate_daily: z.boolean().optional(),
  fsync: z.enum(['always', 'checkpoint', 'never']).optional(),
  stdout: z.boolean().optional(),
  http: z
    .strictObject({
      url: str,
      format: z.enum(['json', 'splunk-hec', 'elastic-bulk']).optional(),
      token_env: str.optional(),
      spool_dir: str.optional(),
      spool_max: sizeLike.optional(),
      batch_size: z.number().int().min(1).max(10_000).optional(),
      flush_interval: sizeLike.optional(),
      ca_file: str.optional(),
    })
    .optional(),
  sign_key: str.optional(),
  checkpoint_every: z.number().int().min(1).optional(),
  checkpoint_interval: sizeLike.optional(),
  format: z.enum(['warden', 'ocsf']).optional(),
});

export const rawConfigSchema = z.strictObject({
  listen: str.optional(),
  admin: str.optional(),
  mode: z.enum(['enforce', 'report']).optional(),
  ca_dir: str.optional(),
  auth: z.enum(['required', 'optional', 'off']).optional(),
  agents: z.array(agent).optional(),
  profiles: z.record(z.string(), profile).optional(),
  upstream: z
    .strictObject({
      ca_file: str.optional(),
      connect_to: z.record(z.string(), str).optional(),
      allow_private: strList.optional(),
      connect_timeout: sizeLike.optional(),
      headers_timeout: sizeLike.optional(),
      body_timeout: sizeLike.optional(),
    })
    .optional(),
  honeytokens: z.array(honeytoken).optional(),
  alerts: z.array(alert).optional(),
  audit: audit.optional(),
  dlp: z.strictObject({ packs: strList.optional(), workers: z.number().int().min(0).max(64).optional() }).optional(),
  server: z
    .strictObject({
      max_connections: z.number().int().min(1).optional(),
      max_header_size: sizeLike.optional(),
      headers_timeout: sizeLike.optional(),
      idle_timeout: sizeLike.optional(),
      keep_alive_timeout: sizeLike.optional(),
      max_inspect_buffer: sizeLike.optional(),
      drain_timeout: sizeLike.optional(),
      max_cached_leaves: z.number().int().min(1).max(1_000_000).optional(),
    })
    .optional(),
});

export type RawConfig = z.infer<typeof rawConfigSchema>;
export type RawProfile = z.infer<typeof profile>;
export type RawAllowEntry = z.infer<typeof allowEntry>;
