import type { Torrent, Wire } from 'webtorrent'
import { pieceCount, sendEmptyBitfield } from './webtorrent/torrent-state.js'

/**
 * Pieces a peer may be offered by the seeder and not hold yet: at least 4,
 * and enough for half a second at the rate the seeder sends to it, so one
 * fast peer alone with the seeder is not held to a round trip per 4 pieces.
 */
const MIN_OUTSTANDING = 4
const MAX_OUTSTANDING = 256
const OUTSTANDING_SECONDS = 0.5
/**
 * An offer the peer has not taken after this long, while the peer said no
 * `have` at all, no longer keeps the piece from others. A peer still getting
 * pieces keeps its offers: behind a slow zone link a piece may take longer
 * than this to arrive, and offering it again to another peer of the zone
 * would send it across that link twice.
 */
const OFFER_TIMEOUT_MS = 5_000
/** How often stale offers are looked for. */
const SWEEP_MS = 1_000
/** A peer that has not named its zone this long after connecting is taken to have none. */
const PLACE_WAIT_MS = 1_000

/**
 * Which zone a peer is in, for the per-zone offers: a name ('' for none), or
 * undefined while the peer has not said yet. `whenKnown` runs its callback
 * once the answer is there.
 */
export interface ZoneOf {
  zone(wire: Wire): string | undefined
  whenKnown(wire: Wire, fn: () => void): void
}

/** Every peer in one zone: the seeder as it was before zones. */
const noZones: ZoneOf = { zone: () => '', whenKnown: (_w, fn) => fn() }

interface Offer {
  readonly wire: Wire
  readonly at: number
}

/**
 * Super-seeding (BEP 16) for the sidecar's seeder, so that each piece leaves
 * the registry host about once. Advertising every piece to every agent makes
 * them all pull the same pieces from the seeder's one uplink. So the seeder
 * announces nothing to a new peer, then offers it a few pieces at a time
 * (four, or half a second's worth at its rate), and only pieces that no connected peer holds and no other peer has
 * been offered: every piece goes out once, and peers get the rest from each
 * other, over every host's uplink. A piece is offered again only if the peer
 * it went to left, or did not take it within five seconds while saying no
 * `have` at all, before anyone else
 * had it. A peer alone with the seeder is thus offered every piece in turn.
 *
 * A claim to hold a piece counts only when it can be true: the peer took
 * that piece from the seeder, or says `have` for a piece that has left the
 * seeder to someone. A bitfield or have-all at connect time is believed only
 * for pieces the seeder sent on that connection, i.e. never: a peer that
 * claims everything it never got would otherwise make the seeder stop
 * offering, and stall every pull.
 *
 * With zones, all of this holds per zone: holders, offers and their timeouts
 * are counted among the peers of one zone, so each piece is offered to one
 * peer in every zone before it is offered again in any, and the peers of a
 * zone share it among themselves instead of each fetching it across the
 * zone's link. A peer's zone is what its handshake named (`ZoneOf`); no offer
 * goes to a peer before that is known, or a second has passed.
 */
export function superSeed(t: Torrent, now: () => number = Date.now, zones: ZoneOf = noZones): void {
  let state: SeedState | undefined
  const timer = setInterval(() => state?.topUpAll(), SWEEP_MS)
  timer.unref()
  t.once('close', () => clearInterval(timer))
  t.on('wire', (wire: Wire) => {
    // The piece count is known once the torrent is ready, which it is before any wire of a seeded blob.
    const st = (state ??= new SeedState(pieceCount(t), t.pieceLength, now))
    st.add(wire)
    const placed = () => st.place(wire, zones.zone(wire) ?? '')
    zones.whenKnown(wire, placed)
    setTimeout(placed, PLACE_WAIT_MS).unref()
  })
}

/** One zone's share of the seeder's state. */
interface ZoneState {
  /** Connected peers of the zone holding each piece. */
  readonly holders: Uint16Array
  readonly offers: Map<number, Offer>
}

interface WireState {
  readonly mine: Set<number>
  readonly counted: Uint8Array
  readonly took: Uint8Array
  /** Unset until the peer's zone is known: it gets no offers before. */
  zone?: ZoneState
  /** The peer sent its bitfield, a have or its interest: offers may follow. */
  heard: boolean
  /** When the peer last said `have` (0: never). */
  lastHave: number
}

class SeedState {
  private readonly zones = new Map<string, ZoneState>()
  private readonly wires = new Map<Wire, WireState>()
  /** Pieces some peer requested from the seeder: copies of them can exist in the swarm. */
  private readonly left: Uint8Array

  constructor(
    private readonly pieces: number,
    private readonly pieceLength: number,
    private readonly now: () => number,
  ) {
    this.left = new Uint8Array(pieces)
  }

  /** Puts a peer in its zone, once; what it was seen to hold before counts there now. */
  place(wire: Wire, zone: string): void {
    const entry = this.wires.get(wire)
    if (!entry || entry.zone) return
    let z = this.zones.get(zone)
    if (!z) this.zones.set(zone, (z = { holders: new Uint16Array(this.pieces), offers: new Map() }))
    entry.zone = z
    for (let i = 0; i < this.pieces; i++) if (entry.counted[i]) z.holders[i]++
    if (entry.heard) this.topUp(wire)
  }

  add(wire: Wire): void {
    if (wire.destroyed) return
    const entry: WireState = { mine: new Set<number>(), counted: new Uint8Array(this.pieces), took: new Uint8Array(this.pieces), heard: false, lastHave: 0 }
    this.wires.set(wire, entry)
    const heard = () => {
      entry.heard = true
      this.topUp(wire)
    }
    sendEmptyBitfield(wire, this.pieces)
    const holds = (i: number) => {
      if (entry.counted[i]) return
      entry.counted[i] = 1
      entry.mine.delete(i)
      const z = entry.zone
      if (!z) return
      z.holders[i]++
      if (z.offers.get(i)?.wire === wire) z.offers.delete(i)
    }
    const recount = () => {
      for (let i = 0; i < this.pieces; i++) if (entry.took[i] && wire.peerPieces?.get(i) === true) holds(i)
      heard()
    }
    wire.on('bitfield', recount)
    wire.on('have-all', recount)
    wire.on('request', (i: number) => {
      if (!Number.isInteger(i) || i < 0 || i >= this.pieces) return
      entry.took[i] = 1
      this.left[i] = 1
    })
    wire.on('have', (i: number) => {
      entry.lastHave = this.now()
      if (Number.isInteger(i) && i >= 0 && i < this.pieces && (entry.took[i] || this.left[i])) holds(i)
      heard()
    })
    wire.on('have-none', heard)
    // A peer that sent no bitfield (allowed when it has no pieces) still gets its first offers.
    wire.once('interested', heard)
    wire.once('close', () => {
      this.wires.delete(wire)
      const z = entry.zone
      if (z) {
        for (let i = 0; i < this.pieces; i++) if (entry.counted[i]) z.holders[i]--
        for (const i of entry.mine) if (z.offers.get(i)?.wire === wire) z.offers.delete(i)
      }
      // What it held or was offered may now be nowhere else.
      this.topUpAll()
    })
  }

  topUpAll(): void {
    for (const w of this.wires.keys()) this.topUp(w)
  }

  private topUp(wire: Wire): void {
    const entry = this.wires.get(wire)
    const z = entry?.zone
    if (!entry || !z || wire.destroyed) return
    // An offer that went stale and was given to another peer no longer counts against this one.
    for (const i of entry.mine) if (z.offers.get(i)?.wire !== wire) entry.mine.delete(i)
    const outstanding = Math.min(MAX_OUTSTANDING, Math.max(MIN_OUTSTANDING, Math.ceil((wire.uploadSpeed() * OUTSTANDING_SECONDS) / this.pieceLength)))
    // Bounded: each turn adds one piece to `mine`, at most `outstanding` of them.
    while (entry.mine.size < outstanding) {
      const next = this.pick(wire, entry.mine, z)
      if (next === undefined) return
      entry.mine.add(next)
      z.offers.set(next, { wire, at: this.now() })
      wire.have(next)
    }
  }

  /** A piece nobody connected in the zone holds and no other live offer there covers, starting at a random piece so peers get different ones. */
  private pick(wire: Wire, mine: Set<number>, z: ZoneState): number | undefined {
    const stale = this.now() - OFFER_TIMEOUT_MS
    const start = Math.floor(Math.random() * this.pieces)
    for (let k = 0; k < this.pieces; k++) {
      const i = (start + k) % this.pieces
      if (z.holders[i] > 0 || mine.has(i) || wire.peerPieces?.get(i) === true) continue
      const o = z.offers.get(i)
      if (o && o.wire !== wire && Math.max(o.at, this.wires.get(o.wire)?.lastHave ?? 0) > stale && !o.wire.destroyed) continue
      return i
    }
    return undefined
  }
}
