import type { Torrent, Wire } from 'webtorrent'
import { placeBlocks } from './wire-patches.js'

/**
 * Block size agents request. webtorrent answers requests up to 128 KiB (it
 * drops peers asking for more), and every peer of a layerseed swarm is
 * webtorrent. Eight times BitTorrent's usual 16 KiB: a fraction of the request
 * messages, callbacks and socket writes per byte.
 */
export const BLOCK_LENGTH = 128 * 1024

/** Pieces per segment of the random order; see `segmentOrder`. */
const SEGMENTS = 16
/** How much data each peer should have in flight, in seconds of its measured rate. */
const PIPELINE_SECONDS = 0.5
const MIN_BLOCKS_IN_FLIGHT = 2
const MAX_BLOCKS_IN_FLIGHT = 32

/** The parts of webtorrent's Wire the picker reads. */
interface PickerWire {
  destroyed: boolean
  peerChoking: boolean
  requests: Array<{ piece: number; offset: number; length: number }>
  peerPieces: { get(index: number): boolean }
  downloadSpeed(): number
}

/** webtorrent's Torrent internals the picker replaces or calls. */
interface TorrentInternals {
  destroyed: boolean
  pieces: Array<PieceLike | null>
  bitfield: { get(index: number): boolean }
  wires: PickerWire[]
  _update(): void
  _updateWire(wire: PickerWire): void
  _hotswap(wire: PickerWire, index: number): boolean
  _request(wire: PickerWire, index: number, hotswap: boolean): boolean
}

interface PieceLike {
  readonly length: number
}

/**
 * Replaces webtorrent's request scheduling for one download. webtorrent
 * re-plans every peer after every 16 KiB block and every `have`, walking its
 * selections with a speed ranker and hot-swapping slow requests; on a busy
 * node that costs more CPU than moving the bytes. Here, all requests of one
 * tick are planned once, blocks are 128 KiB, and each peer is asked for the
 * pieces it has in this agent's own order (`segmentOrder`), enough to keep
 * half a second of its rate in flight.
 */
export function takeOverRequests(torrent: Torrent, order: readonly number[]): void {
  const t = torrent as unknown as TorrentInternals
  for (let i = 0; i < t.pieces.length; i++) {
    const p = t.pieces[i]
    if (p) t.pieces[i] = new Piece(p.length)
  }
  // Hot-swapping cancels blocks by webtorrent's 16 KiB numbering, which these pieces do not use.
  t._hotswap = () => false
  let first = 0
  t._updateWire = (wire) => {
    if (wire.destroyed || wire.peerChoking) return
    const want = blocksInFlight(wire)
    if (wire.requests.length >= want) return
    while (first < order.length && t.bitfield.get(order[first])) first++
    for (let k = first; k < order.length && wire.requests.length < want; k++) {
      const i = order[k]
      if (t.bitfield.get(i) || !wire.peerPieces.get(i)) continue
      // Bounded: each successful request reserves one of the piece's blocks.
      while (wire.requests.length < want && t._request(wire, i, false));
    }
  }
  // Blocks this download asked a peer for are copied from the socket straight into their piece.
  torrent.on('wire', (wire: Wire) => {
    const w = wire as unknown as PickerWire
    placeBlocks(wire, (index, begin, length) => {
      const p = t.pieces[index]
      if (!(p instanceof Piece) || !w.requests.some((r) => r.piece === index && r.offset === begin && r.length === length)) return undefined
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
}

function blocksInFlight(wire: PickerWire): number {
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

/**
 * torrent-piece's Piece (the API webtorrent's `_request` drives) with
 * BLOCK_LENGTH blocks instead of 16 KiB ones.
 */
class Piece {
  missing: number
  sources: unknown[] | null = null
  private readonly chunks: number
  private readonly remainder: number
  private buffered = 0
  private buffer: Array<Uint8Array | undefined> | null = null
  /** The assembled piece; blocks placed with `slot` are written into it as they arrive. */
  private whole: Buffer | undefined
  private cancellations: number[] | null = null
  private reservations = 0
  private flushed = false

  constructor(readonly length: number) {
    this.missing = length
    this.chunks = Math.ceil(length / BLOCK_LENGTH)
    this.remainder = length % BLOCK_LENGTH || BLOCK_LENGTH
  }

  chunkLength(i: number): number {
    return i === this.chunks - 1 ? this.remainder : BLOCK_LENGTH
  }

  chunkLengthRemaining(i: number): number {
    return this.length - i * BLOCK_LENGTH
  }

  chunkOffset(i: number): number {
    return i * BLOCK_LENGTH
  }

  reserve(): number {
    if (!this.init()) return -1
    if (this.cancellations!.length) return this.cancellations!.pop()!
    if (this.reservations < this.chunks) return this.reservations++
    return -1
  }

  reserveRemaining(): number {
    if (!this.init()) return -1
    if (this.cancellations!.length || this.reservations < this.chunks) {
      let min = this.reservations
      while (this.cancellations!.length) min = Math.min(min, this.cancellations!.pop()!)
      this.reservations = this.chunks
      return min
    }
    return -1
  }

  cancel(i: number): void {
    if (this.init()) this.cancellations!.push(i)
  }

  cancelRemaining(i: number): void {
    if (this.init()) this.reservations = i
  }

  get(i: number): Uint8Array | null {
    return this.init() ? (this.buffer![i] ?? null) : null
  }

  /** Where block data for `begin`..`begin + length` should be written, if that block is still wanted. */
  slot(begin: number, length: number): Uint8Array | undefined {
    if (!this.init() || begin % BLOCK_LENGTH !== 0) return undefined
    const i = begin / BLOCK_LENGTH
    if (i >= this.chunks || length !== this.chunkLength(i) || this.buffer![i]) return undefined
    this.whole ??= Buffer.allocUnsafe(this.length)
    return this.whole.subarray(begin, begin + length)
  }

  set(i: number, data: Uint8Array, source: unknown): boolean {
    if (!this.init()) return false
    // The wire matches answers to requests by length, so a block has its requested size; bad bytes fail the piece's hash.
    if (this.buffer![i]) return this.buffered === this.chunks
    this.buffer![i] = data
    this.buffered++
    this.missing -= data.length
    if (!this.sources!.includes(source)) this.sources!.push(source)
    return this.buffered === this.chunks
  }

  flush(): Uint8Array | null {
    if (!this.buffer || this.buffered !== this.chunks) return null
    const out = (this.whole ??= Buffer.allocUnsafe(this.length))
    for (let i = 0; i < this.chunks; i++) {
      const b = this.buffer[i]!
      // Placed blocks are in `whole` already; others (arrived unplaced) are copied in.
      if (b.buffer !== out.buffer || b.byteOffset !== out.byteOffset + i * BLOCK_LENGTH) out.set(b, i * BLOCK_LENGTH)
    }
    this.whole = undefined
    this.buffer = null
    this.cancellations = null
    this.sources = null
    this.flushed = true
    return out
  }

  private init(): boolean {
    if (this.flushed) return false
    if (this.buffer) return true
    this.buffer = new Array<Uint8Array | undefined>(this.chunks)
    this.cancellations = []
    this.sources = []
    return true
  }
}
