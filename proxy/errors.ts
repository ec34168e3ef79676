/**
 * The single table of refusal codes (DESIGN.md "Refusals" and the audit `reason` field).
 * Codes are part of the public contract: never renamed, never reused. The README's error
 * table lists each one; test/unit/errors.test.ts checks that it does.
 */
export const REFUSALS = {
  bad_request:         { status: 400, message: 'Malformed proxy request; send an absolute-form URL or CONNECT host:port.' },
  auth_required:       { status: 407, message: 'Proxy authentication is required; send Proxy-Authorization with this agent\'s id and token.' },
  not_allowlisted:     { status: 403, message: 'The destination is not on this agent\'s allowlist; ask an admin to add it.' },
  denylisted:          { status: 403, message: 'The destination is explicitly denied for this agent.' },
  request_not_allowed: { status: 403, message: 'This method or path is not allowed for the destination.' },
  host_mismatch:       { status: 403, message: 'The request Host does not match the host of the CONNECT tunnel it was sent in.' },
  private_address:     { status: 403, message: 'The destination resolves to a private, loopback or link-local address, which is refused.' },
  sni_mismatch:        { status: 403, message: 'The TLS server name does not match the CONNECT host.' },
  dlp:                 { status: 403, message: 'The request contains sensitive data that the data-loss policy blocks; remove it and retry.' },
  honeytoken:          { status: 403, message: 'The request contains canary data and was blocked; this event has been reported.' },
  uninspectable:       { status: 403, message: 'The request body could not be inspected (unknown encoding, too large to inspect, or malformed).' },
  body_too_large:      { status: 413, message: 'The request body exceeds the size limit for this destination.' },
  rate_limited:        { status: 429, message: 'Too many requests; retry after the delay in Retry-After.' },
  upload_budget:       { status: 429, message: 'The upload budget for this agent is spent; retry after the delay in Retry-After.' },
  quarantined:         { status: 403, message: 'This agent is quarantined after a detection rule fired; an admin can lift it.' },
  overloaded:          { status: 503, message: 'The proxy is busy inspecting other requests; retry after the delay in Retry-After.' },
  shutting_down:       { status: 503, message: 'Warden is shutting down and opens no new tunnel; retry on a new connection.' },
  upstream_error:      { status: 502, message: 'The upstream could not be reached or failed the connection.' },
  upstream_tls:        { status: 502, message: 'The upstream TLS certificate could not be verified; the request was not sent.' },
  upstream_timeout:    { status: 504, message: 'The upstream did not respond in time.' },
  dns_error:           { status: 502, message: 'The destination host name could not be resolved.' },
  internal_error:      { status: 500, message: 'Warden failed while deciding on this request and refused it (fail closed).' },
} as const satisfies Record<string, { status: number; message: string }>;

export type RefusalCode = keyof typeof REFUSALS;

/** Reason codes that also appear on allowed traffic in the audit stream. */
export type DecisionReason = RefusalCode | 'allowlisted';

export class WardenError extends Error {
  readonly code: RefusalCode;
  readonly status: number;
  constructor(code: RefusalCode, detail?: string, options?: { cause?: unknown }) {
    super(detail ?? REFUSALS[code].message, options);
    this.name = 'WardenError';
    this.code = code;
    this.status = REFUSALS[code].status;
  }
}

/** The JSON body of a refusal (DESIGN.md). Never carries matched content. */
export function refusalBody(code: RefusalCode, requestId: string, extra?: Record<string, unknown>): string {
  return JSON.stringify({
    error: { type: 'egress_blocked', code, message: REFUSALS[code].message, request_id: requestId, ...extra },
  });
}
