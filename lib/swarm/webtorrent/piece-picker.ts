import { createHash } from 'node:crypto'
import type { Torrent, Wire } from 'webtorrent'
import { BLOCK_LENGTH, BigPiece } from './big-piece.js'
import { placeBlocks } from './wire-parser.js'
import type { TorrentInternals, WireInternals } from './internals.js'

/** Pieces per segment of the random order; see `segmentOrder`. */
const SEGMENTS = 16
/** How much data each peer should have in flight, in seconds of its measured rate. */
const PIPELINE_SECONDS = 0.5
const MIN_BLOCKS_IN_FLIGHT = 2
const MAX_BLOCKS_IN_FLIGHT = 32

/** What a download decides about its peers, told what the picker sees. */
export interface PieceJudge {
  /** A piece failed its SHA-1; `senders` sent its blocks. */
  failed(index: number, senders: readonly Wire[]): void
  /** Whether a peer may still be asked for pieces. */
  usable(wire: Wire): boolean
}

/**
 * Which peers a download asks first, told what the picker sees. A piece is
 * asked only from its nearest holders: the usable, unchoking peers that have
 * it and rank lowest. A holder farther than those is left for the piece's
 * other pieces' sake, never asked for this one.
 */
export interface PeerPreference {
  /** Lower is nearer. Called often: it must be a lookup. */
  rank(wire: Wire): number
  /** Whether `index` may be asked from `wire` at all, when it is among the piece's nearest holders. */
  allowed(wire: Wire, index: number): boolean
}

/**
 * Takes over requesting for one download. webtorrent re-plans every peer
 * after every 16 KiB block and every `have`, walking its selections with a
 * speed ranker and hot-swapping slow requests; on a busy node that cost more
 * CPU than moving the bytes. Here all requests of one tick are planned once,
 * blocks are 128 KiB and land straight in their piece (`BigPiece`), each peer
 * is asked for the pieces it has in this agent's own order (`segmentOrder`),
 * enough to keep half a second of its rate in flight, and a piece is checked
 * against its SHA-1 and handed to the store as soon as its last block is in.
 *
 * A piece is asked from one peer while that peer is there to answer, so a
 * piece that fails its hash names its sender; a failed piece is not asked
 * again from the one peer that sent it.
 */
export function takeOverRequests(torrent: Torrent, order: readonly number[], judge: PieceJudge, prefer?: PeerPreference): void {
  const t = torrent as unknown as TorrentInternals
  for (let i = 0; i < t.pieces.length; i++) {
    const p = t.pieces[i]
    if (p) t.pieces[i] = new BigPiece(p.length)
  }
  // webtorrent's own requesting paths stay unused: hot-swapping would cancel blocks by its 16 KiB numbering.
  t._hotswap = () => false
  const senders = new Map<BigPiece, Set<WireInternals>>()
  const owner = new Map<number, WireInternals>()
  const avoid = new Map<number, Set<WireInternals>>()
  const takenByOther = (i: number, wire: WireInternals) => {
    const o = owner.get(i)
    return o !== undefined && o !== wire && !o.destroyed && !o.peerChoking
  }

  const completed = (index: number, piece: BigPiece) => {
    const buf = piece.flush()
    if (!buf) return
    const from = [...(senders.get(piece) ?? [])]
    senders.delete(piece)
    owner.delete(index)
    if (createHash('sha1').update(buf).digest('hex') !== t._hashes[index]) {
      t.pieces[index] = new BigPiece(piece.length)
      if (from.length === 1) avoid.set(index, (avoid.get(index) ?? new Set()).add(from[0]))
      t.emit('warning', new Error(`piece ${index} failed verification`))
      judge.failed(index, from as unknown as Wire[])
      return
    }
    avoid.delete(index)
    t.store.put(index, buf, (err) => {
      if (t.destroyed) return
      if (err) return t._destroy(err)
      t._markVerified(index)
      for (const w of t.wires) w.have(index)
      t._checkDone()
      t._update()
    })
  }

  const request = (wire: WireInternals, index: number): boolean => {
    const piece = t.pieces[index]
    if (!(piece instanceof BigPiece)) return false
    const block = piece.reserve()
    if (block < 0) return false
    owner.set(index, wire)
    wire.request(index, block * BLOCK_LENGTH, piece.blockLength(block), (err, data) => {
      if (t.destroyed || t.pieces[index] !== piece) return
      if (err || !data) piece.cancel(block)
      else {
        senders.set(piece, (senders.get(piece) ?? new Set()).add(wire))
        if (piece.set(block, data)) completed(index, piece)
      }
      t._update()
    })
    return true
  }

  const answering = (w: WireInternals) => !w.destroyed && !w.peerChoking && judge.usable(w as unknown as Wire)
  /** Whether no usable peer nearer than `rank` holds piece `i`. */
  const nearest = (i: number, rank: number): boolean => {
    for (const w of t.wires) if (w.peerPieces.get(i) && prefer!.rank(w as unknown as Wire) < rank && answering(w)) return false
    return true
  }
  // The peer a piece was first asked from finishes it: others keep off it while it is there (`takenByOther`).
  const mayAsk = (wire: WireInternals, i: number): boolean => {
    if (!prefer || owner.get(i) === wire) return true
    const w = wire as unknown as Wire
    return nearest(i, prefer.rank(w)) && prefer.allowed(w, i)
  }

  let first = 0
  t._updateWire = (wire) => {
    if (!answering(wire)) return
    const want = blocksInFlight(wire)
    if (wire.requests.length >= want) return
    while (first < order.length && t.bitfield.get(order[first])) first++
    for (let k = first; k < order.length && wire.requests.length < want; k++) {
      const i = order[k]
      if (t.bitfield.get(i) || !wire.peerPieces.get(i) || takenByOther(i, wire) || avoid.get(i)?.has(wire) || !mayAsk(wire, i)) continue
      // Bounded: each successful request reserves one of the piece's blocks.
      while (wire.requests.length < want && request(wire, i));
    }
  }

  // Blocks this download asked a peer for are copied from the socket straight into their piece.
  torrent.on('wire', (wire: Wire) => {
    const w = wire as unknown as WireInternals
    // webtorrent listens for the peer's bitfield only a microtask after this event, so a bitfield that
    // came in the handshake's segment is missed and we never say we are interested: look at it once that is set up.
    setImmediate(() => {
      if (t.destroyed || w.destroyed) return
      t._updateWireInterest(w)
      t._update()
    })
    placeBlocks(wire, (index, begin, length) => {
      const p = t.pieces[index]
      if (!(p instanceof BigPiece) || !w.requests.some((r) => r.piece === index && r.offset === begin && r.length === length)) return undefined
      return p.slot(begin, length)
    })
  })

  let planned = false
  const plan = () => {
    planned = false
    if (t.destroyed) return
    for (const w of t.wires) t._updateWire(w)
  }
  t._update = () => {
    if (planned) return
    planned = true
    queueMicrotask(plan)
  }
  // A preference may allow more as time passes with no progress (and so with no event to plan on).
  if (prefer) {
    const tick = setInterval(() => t._update(), 1_000)
    tick.unref()
    torrent.once('close', () => clearInterval(tick))
  }
}

/** A seed has every piece: webtorrent's re-planning of every peer after every `have` is work for nothing. */
export function neverRequest(torrent: Torrent): void {
  ;(torrent as unknown as TorrentInternals)._update = () => undefined
}

function blocksInFlight(wire: WireInternals): number {
  const n = Math.ceil((wire.downloadSpeed() * PIPELINE_SECONDS) / BLOCK_LENGTH)
  return Math.min(MAX_BLOCKS_IN_FLIGHT, Math.max(MIN_BLOCKS_IN_FLIGHT, n))
}

/**
 * The torrent's pieces as segments in a random order of this agent's own.
 * Agents that start together then hold different pieces and trade them, as
 * with rarest-first, without tracking rarity.
 */
export function segmentOrder(pieces: number): number[] {
  const size = Math.max(1, Math.ceil(pieces / SEGMENTS))
  const segs: number[][] = []
  for (let from = 0; from < pieces; from += size) segs.push(Array.from({ length: Math.min(pieces, from + size) - from }, (_, k) => from + k))
  for (let i = segs.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1))
    ;[segs[i], segs[j]] = [segs[j], segs[i]]
  }
  return segs.flat()
}
