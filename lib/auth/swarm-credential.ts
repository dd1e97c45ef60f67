import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto'
import fs from 'node:fs/promises'
import type { Clock } from '../core/clock.js'
import { safeJoin } from '../core/safe-path.js'

// The one header this module writes and accepts: the algorithm is fixed here,
// never read from the credential, so no algorithm can be swapped in.
const HEADER = Buffer.from(JSON.stringify({ alg: 'HS256', typ: 'JWT' })).toString('base64url')
const MAX_LENGTH = 512
export const MIN_SECRET_BYTES = 32

/**
 * Short-lived credentials that admit a peer to one torrent's swarm: an HS256
 * JWT `{ih, exp}` signed with the sidecar's secret, carried in the torrent's
 * announce URL (`?cred=`). Signed and checked synchronously with node:crypto,
 * since torrents are built synchronously.
 */
export class SwarmCredentials {
  constructor(
    private readonly secret: Buffer,
    private readonly clock: Clock,
    private readonly ttlMs: number,
  ) {
    if (secret.length < MIN_SECRET_BYTES) throw new Error(`the swarm secret must be at least ${MIN_SECRET_BYTES} bytes`)
  }

  issue(infoHash: string): string {
    const payload = Buffer.from(JSON.stringify({ ih: infoHash, exp: Math.floor((this.clock.now() + this.ttlMs) / 1000) })).toString('base64url')
    return `${HEADER}.${payload}.${this.sign(`${HEADER}.${payload}`).toString('base64url')}`
  }

  /** Whether `cred` was signed with this secret for `infoHash` and has not expired. */
  valid(cred: unknown, infoHash: string): boolean {
    if (typeof cred !== 'string' || cred.length > MAX_LENGTH) return false
    const parts = cred.split('.')
    if (parts.length !== 3 || parts[0] !== HEADER) return false
    const expected = this.sign(`${parts[0]}.${parts[1]}`)
    const given = Buffer.from(parts[2], 'base64url')
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return false
    let claims: { ih?: unknown; exp?: unknown }
    try {
      claims = JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8')) as typeof claims
    } catch {
      return false
    }
    return claims.ih === infoHash && typeof claims.exp === 'number' && this.clock.now() < claims.exp * 1000
  }

  private sign(input: string): Buffer {
    return createHmac('sha256', this.secret).update(input).digest()
  }
}

/**
 * The secret swarm credentials are signed with: the one given (shared by
 * several sidecars), else `<dataDir>/swarm-secret`, created once with mode
 * 0600 so a restart keeps the torrents already handed out valid.
 */
export async function swarmSecret(opts: { given?: string; dataDir: string }): Promise<Buffer> {
  if (opts.given !== undefined) return Buffer.from(opts.given, 'utf8')
  const file = safeJoin(opts.dataDir, 'swarm-secret')
  try {
    await fs.writeFile(file, randomBytes(32).toString('hex'), { flag: 'wx', mode: 0o600 })
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
  }
  await fs.chmod(file, 0o600)
  return Buffer.from((await fs.readFile(file, 'utf8')).trim(), 'utf8')
}
