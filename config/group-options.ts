import { optionTable } from './spec.js'
import { httpUrl } from './urls.js'

/** The options of a sidecar in a group sharing one Redis. Without `redis`, the sidecar is alone and keeps all state in its process. */
export interface GroupFields {
  readonly redis?: string
  readonly replicas: number
  readonly advertiseUrl?: string
}

/** `redis://HOST:PORT[/DB]`, with no credentials, query or fragment (a password belongs in a file, not a flag). */
export function parseRedisUrl(raw: unknown): string {
  if (typeof raw !== 'string' || raw.trim() === '') throw new Error(`want redis://HOST:PORT[/DB], got ${JSON.stringify(raw)}`)
  let u: URL
  try {
    u = new URL(raw.trim())
  } catch {
    throw new Error(`want redis://HOST:PORT[/DB], got ${JSON.stringify(raw)}`)
  }
  if (u.protocol !== 'redis:') throw new Error(`want a redis:// URL, got ${JSON.stringify(raw)}`)
  if (!u.hostname || !u.port) throw new Error(`want redis://HOST:PORT[/DB] with a port, got ${JSON.stringify(raw)}`)
  if (u.username || u.password) throw new Error('credentials do not belong in the URL')
  if (u.search || u.hash) throw new Error('a query or fragment does not belong in the URL')
  const db = u.pathname.replace(/^\/+/, '')
  if (db !== '' && !/^(?:[0-9]|1[0-5])$/.test(db)) throw new Error(`want a database 0..15 after the port, got ${JSON.stringify(db)}`)
  return `redis://${u.host}/${db === '' ? '0' : db}`
}

function replicas(raw: unknown): number {
  const n = typeof raw === 'number' ? raw : Number(String(raw).trim())
  if (!Number.isInteger(n) || n < 1 || n > 16) throw new Error(`want an integer 1..16, got ${JSON.stringify(raw)}`)
  return n
}

function advertiseUrl(raw: unknown): string {
  if (typeof raw !== 'string' || raw.trim() === '') throw new Error(`want an http(s) URL, got ${JSON.stringify(raw)}`)
  const u = httpUrl(raw.trim())
  if (u.search || u.hash || (u.pathname !== '/' && u.pathname !== '')) throw new Error('want scheme://host:port only, without a path, query or fragment')
  return `${u.protocol}//${u.host}`
}

export const sidecarGroupOptions = optionTable<GroupFields>()({
  redis: { flag: 'redis', field: 'redis', arg: 'URL', help: 'redis://HOST:PORT[/DB] shared by a group of sidecars: members, owners, tracker peers, jobs and intake (default: none, all state in this process)', parse: parseRedisUrl },
  replicas: { flag: 'replicas', field: 'replicas', arg: 'N', default: '1', help: 'with --redis: members that hold each blob, the owner included', parse: replicas },
  advertiseUrl: { flag: 'advertise-url', field: 'advertiseUrl', arg: 'URL', help: 'with --redis: the URL other members and agents reach this sidecar at (default: http://<advertise-host>:<listen port>)', parse: advertiseUrl },
})
