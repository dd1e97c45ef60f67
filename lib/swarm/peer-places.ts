import type { Torrent, Wire } from 'webtorrent'
import { onPeerPlace, tellPlace } from './webtorrent/peer-place.js'
import type { PeerPreference } from './webtorrent/piece-picker.js'
import { distance, isPlaceName, OTHER_ZONE, type Place } from './topology.js'

/** A download that verified nothing this long takes pieces from any zone. */
export const STARVED_MS = 2_000

/**
 * Where each connected peer is. Every process tells its zone and rack in the
 * extended handshake of each connection and reads the peer's there: the
 * place is known a round trip after connecting, on every connection (seeder
 * or agent, whichever side dialled), without asking the tracker, and it
 * stays right when several sidecars' trackers know different peers. A peer
 * may lie about its place; that changes only whom it is preferred by, never
 * what is accepted from it (every piece is still checked).
 */
export class PeerPlaces {
  private readonly known = new WeakMap<Wire, Place>()
  private readonly waiting = new WeakMap<Wire, Array<() => void>>()

  constructor(readonly self: Place) {}

  /** Tells each peer of `t` our place and learns theirs; call right after adding the torrent. */
  watch(t: Torrent): void {
    t.on('wire', (wire: Wire) => {
      tellPlace(wire, this.self)
      onPeerPlace(wire, (raw) => {
        this.known.set(wire, { zone: isPlaceName(raw.zone) ? raw.zone : undefined, rack: isPlaceName(raw.rack) ? raw.rack : undefined })
        const fns = this.waiting.get(wire) ?? []
        this.waiting.delete(wire)
        for (const fn of fns) fn()
      })
    })
  }

  /** The peer's place once its handshake told it (an empty place if it named none); undefined before. */
  of(wire: Wire): Place | undefined {
    return this.known.get(wire)
  }

  /** Runs `fn` once the peer's place is known (at once if it is). */
  whenKnown(wire: Wire, fn: () => void): void {
    if (this.known.has(wire)) return fn()
    const fns = this.waiting.get(wire) ?? []
    fns.push(fn)
    this.waiting.set(wire, fns)
  }
}

/**
 * The piece picker's preference for an agent with a zone (none without one:
 * the picker then asks any holder, as before zones). Nearer peers rank lower:
 * same rack, same zone, other zones, and at each distance an agent before a
 * seeder, so a zone with no holder of a piece fetches it from an agent of
 * another zone that has it rather than from the registry host.
 *
 * A piece crosses into the zone from another one only when the zone's
 * seeder offer for it came to this agent (the seeder offers each piece to
 * one peer per zone, see super-seed.ts): the other agents of the zone wait
 * for it to arrive and take it from that peer, so it crosses once. With no
 * seeder connected there is no such offer to wait for, and any holder of
 * another zone is asked; so it is while the download has verified nothing
 * for `STARVED_MS` (`idleMs`): the seeder counts as holders of the zone peers
 * this agent may not be connected to, and the wait must end.
 */
export function zonePreference(places: PeerPlaces, isSeeder: (w: Wire) => boolean, wires: () => Wire[], idleMs: () => number): PeerPreference | undefined {
  const self = places.self
  if (self.zone === undefined) return undefined
  const rank = (w: Wire) => 2 * distance(self, places.of(w) ?? {}) + (isSeeder(w) ? 1 : 0)
  return {
    rank,
    allowed(w, i) {
      if (rank(w) < 2 * OTHER_ZONE || idleMs() > STARVED_MS) return true
      let seeders = 0
      for (const s of wires()) {
        if (!isSeeder(s) || s.destroyed) continue
        if (s.peerPieces?.get(i) === true) return true
        seeders++
      }
      return seeders === 0
    },
  }
}
