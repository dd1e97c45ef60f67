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
/** An offer the peer has not taken after this long no longer keeps the piece from others. */
const OFFER_TIMEOUT_MS = 5_000
/** How often stale offers are looked for. */
const SWEEP_MS = 1_000

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
 * it went to left, or did not take it within five seconds, before anyone else
 * had it. A peer alone with the seeder is thus offered every piece in turn.
 *
 * A claim to hold a piece counts only when it can be true: the peer took
 * that piece from the seeder, or says `have` for a piece that has left the
 * seeder to someone. A bitfield or have-all at connect time is believed only
 * for pieces the seeder sent on that connection, i.e. never: a peer that
 * claims everything it never got would otherwise make the seeder stop
 * offering, and stall every pull.
 */
export function superSeed(t: Torrent, now: () => number = Date.now): void {
  let state: SeedState | undefined
  const timer = setInterval(() => state?.topUpAll(), SWEEP_MS)
  timer.unref()
  t.once('close', () => clearInterval(timer))
  t.on('wire', (wire: Wire) => {
    // The piece count is known once the torrent is ready, which it is before any wire of a seeded blob.
    state ??= new SeedState(pieceCount(t), t.pieceLength, now)
    state.add(wire)
  })
}

class SeedState {
  /** Connected peers holding each piece. */
  private readonly holders: Uint16Array
  private readonly offers = new Map<number, Offer>()
  private readonly wires = new Map<Wire, { mine: Set<number>; counted: Uint8Array; took: Uint8Array }>()
  /** Pieces some peer requested from the seeder: copies of them can exist in the swarm. */
  private readonly left: Uint8Array

  constructor(
    private readonly pieces: number,
    private readonly pieceLength: number,
    private readonly now: () => number,
  ) {
    this.holders = new Uint16Array(pieces)
    this.left = new Uint8Array(pieces)
  }

  add(wire: Wire): void {
    if (wire.destroyed) return
    const entry = { mine: new Set<number>(), counted: new Uint8Array(this.pieces), took: new Uint8Array(this.pieces) }
    this.wires.set(wire, entry)
    sendEmptyBitfield(wire, this.pieces)
    const holds = (i: number) => {
      if (entry.counted[i]) return
      entry.counted[i] = 1
      this.holders[i]++
      entry.mine.delete(i)
      if (this.offers.get(i)?.wire === wire) this.offers.delete(i)
    }
    const recount = () => {
      for (let i = 0; i < this.pieces; i++) if (entry.took[i] && wire.peerPieces?.get(i) === true) holds(i)
      this.topUp(wire)
    }
    wire.on('bitfield', recount)
    wire.on('have-all', recount)
    wire.on('request', (i: number) => {
      if (!Number.isInteger(i) || i < 0 || i >= this.pieces) return
      entry.took[i] = 1
      this.left[i] = 1
    })
    wire.on('have', (i: number) => {
      if (Number.isInteger(i) && i >= 0 && i < this.pieces && (entry.took[i] || this.left[i])) holds(i)
      this.topUp(wire)
    })
    wire.on('have-none', () => this.topUp(wire))
    // A peer that sent no bitfield (allowed when it has no pieces) still gets its first offers.
    wire.once('interested', () => this.topUp(wire))
    wire.once('close', () => {
      this.wires.delete(wire)
      for (let i = 0; i < this.pieces; i++) if (entry.counted[i]) this.holders[i]--
      for (const i of entry.mine) if (this.offers.get(i)?.wire === wire) this.offers.delete(i)
      // What it held or was offered may now be nowhere else.
      this.topUpAll()
    })
  }

  topUpAll(): void {
    for (const w of this.wires.keys()) this.topUp(w)
  }

  private topUp(wire: Wire): void {
    const entry = this.wires.get(wire)
    if (!entry || wire.destroyed) return
    // An offer that went stale and was given to another peer no longer counts against this one.
    for (const i of entry.mine) if (this.offers.get(i)?.wire !== wire) entry.mine.delete(i)
    const outstanding = Math.min(MAX_OUTSTANDING, Math.max(MIN_OUTSTANDING, Math.ceil((wire.uploadSpeed() * OUTSTANDING_SECONDS) / this.pieceLength)))
    // Bounded: each turn adds one piece to `mine`, at most `outstanding` of them.
    while (entry.mine.size < outstanding) {
      const next = this.pick(wire, entry.mine)
      if (next === undefined) return
      entry.mine.add(next)
      this.offers.set(next, { wire, at: this.now() })
      wire.have(next)
    }
  }

  /** A piece nobody connected holds and no other live offer covers, starting at a random piece so peers get different ones. */
  private pick(wire: Wire, mine: Set<number>): number | undefined {
    const stale = this.now() - OFFER_TIMEOUT_MS
    const start = Math.floor(Math.random() * this.pieces)
    for (let k = 0; k < this.pieces; k++) {
      const i = (start + k) % this.pieces
      if (this.holders[i] > 0 || mine.has(i) || wire.peerPieces?.get(i) === true) continue
      const o = this.offers.get(i)
      if (o && o.wire !== wire && o.at > stale && !o.wire.destroyed) continue
      return i
    }
    return undefined
  }
}
