import Wire from 'bittorrent-protocol'
import TrackerServer from 'bittorrent-tracker/server'
import Peer from 'webtorrent/lib/peer.js'
import Torrent from 'webtorrent/lib/torrent.js'
import { MEMBERS, type FieldType, type Member, type Owner, type Shape } from './internals.js'
import { StartError } from '../../core/errors.js'

/** Thrown when an installed dependency no longer has a member a patch relies on. */
export class InternalsChanged extends StartError {
  constructor(readonly problems: readonly string[]) {
    super(`webtorrent internals changed: ${problems.join('; ')}`)
  }
}

let checked = false

/**
 * Verifies, once per process, every member of the table that exists without
 * a torrent or a client; throws `InternalsChanged` naming each one missing.
 * Torrent and client fields exist only once those are built, and are checked
 * then (`checkObject`).
 */
export function checkInternals(): void {
  if (checked) return
  checkInternalsUncached()
  checked = true
}

/** `checkInternals` without the memo, for tests that break a member on purpose. */
export function checkInternalsUncached(): void {
  const protos: Partial<Record<Owner, object>> = { 'Torrent.prototype': Torrent.prototype, 'Peer.prototype': Peer.prototype, 'Wire.prototype': Wire.prototype }
  const problems = MEMBERS.flatMap((m) => (protos[m.owner] ? problemsOf(m, protos[m.owner]!) : []))
  // Instances are built from those prototypes: with one of them broken, building may throw for the same cause.
  if (problems.length === 0) problems.push(...instanceProblems())
  if (problems.length) throw new InternalsChanged(problems)
}

/** The instance fields of Peer, Wire and the tracker, on cheap real instances: no socket, no port. */
function instanceProblems(): string[] {
  const wire = new Wire()
  const tracker = new TrackerServer({ http: false, udp: false, ws: false, stats: false })
  try {
    const swarm = new TrackerServer.Swarm('0'.repeat(40), tracker)
    const subjects: Partial<Record<Owner, object>> = {
      Peer: Peer.createTCPOutgoingPeer('127.0.0.1:1', null, { down: null, up: null }),
      Wire: wire,
      TrackerServer: tracker,
      TrackerSwarm: swarm,
      TrackerPeers: (swarm as { peers?: object }).peers ?? {},
    }
    return MEMBERS.flatMap((m) => (subjects[m.owner] ? problemsOf(m, subjects[m.owner]!) : []))
  } finally {
    wire.destroy()
    tracker.close()
  }
}

/** Checks the table's members of `owner` on a real instance of it (a ready torrent, a client). */
export function checkObject(owner: 'Torrent' | 'WebTorrent', subject: object): void {
  const problems = MEMBERS.filter((m) => m.owner === owner).flatMap((m) => problemsOf(m, subject))
  if (problems.length) throw new InternalsChanged(problems)
}

/** What is wrong with one member on `subject`, if anything. */
export function problemsOf(m: Member, subject: object): string[] {
  const where = `${m.owner}${m.owner.endsWith('.prototype') ? '.' : ' field '}${m.name}`
  const s = m.shape
  if (s.kind === 'read') {
    const reader = readerOf(s.reader)
    return reader?.toString().includes(s.text) ? [] : [`${where} is no longer read by ${s.reader} (expected it to read ${s.text})`]
  }
  if (!(m.name in subject)) return [`${where} is missing (expected ${expected(s)})`]
  const value: unknown = (subject as Record<string, unknown>)[m.name]
  if (s.kind === 'function') {
    if (typeof value !== 'function') return [`${where} is ${describe(value)} (expected ${expected(s)})`]
    if (s.arity !== undefined && value.length !== s.arity) return [`${where} takes ${value.length} arguments (expected ${expected(s)})`]
    return []
  }
  return typeOf(value) === s.type ? [] : [`${where} is ${describe(value)} (expected ${expected(s)})`]
}

function readerOf(path: string): unknown {
  const [cls, , method] = path.split('.')
  const protos: Record<string, object> = { Peer: Peer.prototype, Torrent: Torrent.prototype, Wire: Wire.prototype }
  return (protos[cls] as Record<string, unknown> | undefined)?.[method]
}

function typeOf(v: unknown): FieldType | 'other' {
  if (v === null) return 'null'
  if (Array.isArray(v)) return 'array'
  const t = typeof v
  return t === 'object' || t === 'boolean' || t === 'number' || t === 'function' ? t : 'other'
}

const describe = (v: unknown): string => (v === undefined ? 'undefined' : `a value of type ${typeOf(v)}`)

function expected(s: Shape): string {
  if (s.kind === 'function') return s.arity === undefined ? 'a function' : `a function taking ${s.arity} argument${s.arity === 1 ? "" : "s"}`
  if (s.kind === 'field') return s.type === 'array' || s.type === 'object' ? `an ${s.type}` : s.type === 'null' ? 'null at first' : `a ${s.type}`
  return `read by ${s.reader}`
}
