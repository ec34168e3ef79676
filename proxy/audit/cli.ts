/**
 * `warden audit …` commands. The lead's proxy/cli.ts calls {@link auditCommand} with the
 * arguments after `audit`.
 *
 *   warden audit verify [--pubkey FILE] [--json] FILE|DIR...
 *       exit 0: one-line summary; 1: `FILE:LINE seq N: what is wrong`; 2: usage or I/O error
 *   warden audit pubkey
 *       print the checkpoint public key (PEM); exit 2 if no key exists (nothing is created)
 */
import { readFileSync } from 'node:fs';
import { AuditPathError, expandAuditPaths } from './files.js';
import { publicKeyFromPem, readSignKey } from './keys.js';
import { formatVerifyResult, verifyAuditFiles } from './verify.js';

/** Output channels (the CLI passes process.stdout/stderr writers; tests capture). */
export interface CliIo {
  readonly stdout: (s: string) => void;
  readonly stderr: (s: string) => void;
}

const USAGE = `usage: warden audit verify [--pubkey FILE] [--json] FILE|DIR...
       warden audit pubkey
  verify   check the hash chain and checkpoint signatures of audit files given in rotation
           order (oldest first), or of the stream in a directory. The public key comes from
           --pubkey (public or private key PEM), else from the config's audit.sign_key.
  pubkey   print the public key that verifies this proxy's checkpoints
`;

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Run `warden audit <argv>`; resolves to the exit code. */
export async function auditCommand(argv: readonly string[], io: CliIo, defaults: { readonly signKeyPath: string }): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === undefined || sub === '--help' || sub === '-h' || sub === 'help') {
    (sub === undefined ? io.stderr : io.stdout)(USAGE);
    return sub === undefined ? 2 : 0;
  }
  if (sub === 'pubkey') {
    if (rest.length > 0) {
      io.stderr(`warden audit pubkey: unexpected argument ${rest[0]}\n${USAGE}`);
      return 2;
    }
    try {
      const key = readSignKey(defaults.signKeyPath);
      if (!key) {
        io.stderr(`warden audit pubkey: no audit signing key at ${defaults.signKeyPath} (it is created by the first \`warden start\`)\n`);
        return 2;
      }
      io.stdout(key.publicKeyPem);
      return 0;
    } catch (err) {
      io.stderr(`warden audit pubkey: ${defaults.signKeyPath}: ${message(err)}\n`);
      return 2;
    }
  }
  if (sub !== 'verify') {
    io.stderr(`warden audit: unknown command ${sub}\n${USAGE}`);
    return 2;
  }

  let pubkeyFile: string | null = null;
  let json = false;
  const files: string[] = [];
  for (let i = 0; i < rest.length; i++) {
    const a = rest[i]!;
    if (a === '--pubkey' || a.startsWith('--pubkey=')) {
      const v = a === '--pubkey' ? rest[++i] : a.slice('--pubkey='.length);
      if (!v) {
        io.stderr(`warden audit verify: --pubkey needs a file\n${USAGE}`);
        return 2;
      }
      pubkeyFile = v;
    } else if (a === '--json') {
      json = true;
    } else if (a === '--') {
      files.push(...rest.slice(i + 1));
      break;
    } else if (a.startsWith('-') && a !== '-') {
      io.stderr(`warden audit verify: unknown option ${a}\n${USAGE}`);
      return 2;
    } else {
      files.push(a);
    }
  }
  if (files.length === 0) {
    io.stderr(`warden audit verify: name the audit files (oldest first) or their directory\n${USAGE}`);
    return 2;
  }

  let publicKeyPem: string;
  try {
    if (pubkeyFile !== null) {
      publicKeyPem = publicKeyFromPem(readFileSync(pubkeyFile)).pem;
    } else {
      const key = readSignKey(defaults.signKeyPath);
      if (!key) {
        io.stderr(`warden audit verify: no public key: --pubkey not given and no signing key at ${defaults.signKeyPath}\n`);
        return 2;
      }
      publicKeyPem = key.publicKeyPem;
    }
  } catch (err) {
    io.stderr(`warden audit verify: ${pubkeyFile ?? defaults.signKeyPath}: ${message(err)}\n`);
    return 2;
  }

  let paths: string[];
  try {
    paths = expandAuditPaths(files);
  } catch (err) {
    if (err instanceof AuditPathError) {
      io.stderr(`warden audit verify: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
  let result;
  try {
    result = verifyAuditFiles(paths, { publicKeyPem });
  } catch (err) {
    io.stderr(`warden audit verify: ${message(err)}\n`);
    return 2;
  }
  if (json) io.stdout(JSON.stringify(result) + '\n');
  else (result.ok ? io.stdout : io.stderr)(formatVerifyResult(result) + '\n');
  return result.ok ? 0 : 1;
}
