import type { Torrent, Wire } from 'webtorrent'

/** Pieces a peer may be offered by the seeder and not hold yet. */
const OUTSTANDING = 4

/**
 * Super-seeding (BEP 16's idea) for the sidecar's seeder. Advertising every
 * piece to every agent makes them all pull the same pieces from the seeder's
 * one uplink. So the seeder offers each peer only a few pieces, the ones it has
 * offered least, and offers more as the peer reports having them. Peers get
 * the rest from each other, which spreads the load over every host's uplink.
 * A peer that has everything else can still get its last pieces here, since
 * every piece it lacks is eventually offered.
 */
export function superSeed(t: Torrent): void {
  let offered: Uint32Array | undefined
  t.on('wire', (wire: Wire) => {
    // The piece count is known once the torrent is ready, which it is before any wire of a seeded blob.
    const counts = (offered ??= new Uint32Array(t.pieces.length))
    const mine = new Set<number>()
    const sendBitfield = wire.bitfield.bind(wire)
    // webtorrent sends the full bitfield (or have-all) right after this event: send an empty one instead.
    wire.haveAll = () => sendBitfield(emptyBitfield(t.pieces.length))
    wire.bitfield = () => sendBitfield(emptyBitfield(t.pieces.length))
    const topUp = () => {
      if (wire.destroyed) return
      const has = (i: number) => wire.peerPieces?.get(i) === true
      for (const i of mine) if (has(i)) mine.delete(i)
      while (mine.size < OUTSTANDING) {
        const next = leastOffered(counts, (i) => !mine.has(i) && !has(i))
        if (next === undefined) return
        mine.add(next)
        counts[next]++
        wire.have(next)
      }
    }
    wire.on('bitfield', topUp)
    wire.on('have', topUp)
    wire.on('have-none', topUp)
    // A peer that sent no bitfield (allowed when it has no pieces) still gets its first offers.
    wire.once('interested', topUp)
  })
}

function leastOffered(offered: Uint32Array, wanted: (i: number) => boolean): number | undefined {
  let best: number | undefined
  // Start at a random piece so ties spread over the blob, not its head.
  const start = Math.floor(Math.random() * offered.length)
  for (let k = 0; k < offered.length; k++) {
    const i = (start + k) % offered.length
    if (!wanted(i)) continue
    if (best === undefined || offered[i] < offered[best]) best = i
  }
  return best
}

function emptyBitfield(pieces: number): Buffer {
  return Buffer.alloc(Math.ceil(pieces / 8))
}
