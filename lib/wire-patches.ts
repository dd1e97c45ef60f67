import type { Socket } from 'node:net'
import type { EventEmitter } from 'node:events'
import type { ThrottleGroup } from 'speed-limiter'
import Peer from 'webtorrent/lib/peer.js'
import { pay } from './rate-limit.js'

/** The parts of bittorrent-protocol's Wire that its message parser works with. */
interface WireInternals extends EventEmitter {
  destroyed: boolean
  destroying?: boolean
  _finished: boolean
  _buffer: Uint8Array[]
  _bufferSize: number
  _parserSize: number
  _parser: ((buf: Uint8Array) => void) | null
  _cryptoSyncPattern: Uint8Array | null
  _encryptionMethod: number | null
  _onMessage(buf: Uint8Array): void
  _onMessageLength(buf: Uint8Array): void
  _write(data: Uint8Array, cb: (err: Error | null) => void): void
  _push(data: Uint8Array): boolean | undefined
  push(data: Uint8Array | null): boolean
  _onPiece(index: number, offset: number, buf: Uint8Array): void
  _parse(size: number, parser: (buf: Uint8Array) => void): void
  /** Set by the direct pipes: where outgoing bytes go instead of the stream. */
  _layerseedOut?: (data: Uint8Array) => void
  /** Set by `placeBlocks`. */
  _layerseedPlace?: BlockPlacer
  /** A piece message whose data is being copied into place. */
  _layerseedBlock?: { target: Uint8Array; filled: number; index: number; begin: number }
}

/**
 * Where the data of a block the wire receives should go, or undefined to
 * leave it to the wire's usual parsing. Called when a piece message's header
 * has arrived, before its data.
 */
export type BlockPlacer = (index: number, begin: number, length: number) => Uint8Array | undefined

/** Lets a download copy each block it receives straight into its piece's buffer (see `patchWires`). */
export function placeBlocks(wire: object, placer: BlockPlacer): void {
  ;(wire as WireInternals)._layerseedPlace = placer
}

interface PeerInternals extends EventEmitter {
  conn: Socket | null
  wire: WireInternals | null
  destroyed: boolean
  destroy(err?: Error): void
  throttleGroups: { down: ThrottleGroup; up: ThrottleGroup }
  setThrottlePipes(): void
}

const PATCHED = Symbol.for('layerseed.wirePatches')
const noop = () => undefined

/**
 * Makes webtorrent's per-connection data path cheaper, process-wide. Idempotent.
 *
 * - webtorrent pipes every connection through two speed-limiter streams and
 *   two counting streams per direction, even with no rate limit set. Every
 *   connection gets direct pipes instead: socket reads go straight to the
 *   wire's parser, and the wire's messages straight to the socket, corked
 *   until the end of the tick so a piece's header and data leave in one
 *   write. The host-wide limits still hold: each chunk is checked against
 *   the client's throttle groups and, while one is enabled (also when a
 *   limit is set live), waits for that group's tokens, in order.
 * - The wire's parser concatenates everything buffered on each socket read,
 *   which copies a large block once per read that carries part of it. It now
 *   copies each message at most once, when it spans reads, and a block whose
 *   place a download gave (`placeBlocks`) is copied from the socket's buffers
 *   straight into its piece as it arrives: no copy of the message, no second
 *   copy when the piece is assembled, and far less for the GC.
 */
export function patchWires(): void {
  const proto = Peer.prototype as unknown as PeerInternals & { [PATCHED]?: true }
  if (proto[PATCHED]) return
  proto[PATCHED] = true
  proto.setThrottlePipes = function (this: PeerInternals) {
    const wire = this.wire
    const conn = this.conn
    if (!wire || !conn) return
    patchWireProto(Object.getPrototypeOf(wire) as WireInternals)
    directPipes(this, conn, wire)
  }
}

function directPipes(peer: PeerInternals, conn: Socket, wire: WireInternals): void {
  const { down, up } = peer.throttleGroups
  conn.setNoDelay(true)
  let corked = false
  const uncork = () => {
    corked = false
    if (!conn.destroyed) conn.uncork()
  }
  const send = (data: Uint8Array) => {
    if (peer.destroyed || conn.destroyed) return
    if (!corked) {
      corked = true
      conn.cork()
      process.nextTick(uncork)
    }
    conn.write(data)
  }
  const feed = (chunk: Buffer) => {
    if (peer.destroyed || wire.destroyed || wire.destroying) return
    try {
      wire._write(chunk, noop)
    } catch (err) {
      // A message the parser cannot take: drop this peer, as a stream error would.
      peer.destroy(err instanceof Error ? err : new Error(String(err)))
    }
  }
  // Unlimited, each chunk goes straight through; limited, chunks queue in order behind the tokens they wait for.
  const outbox = paced(up, (data: Uint8Array) => {
    peer.emit('upload', data.length)
    send(data)
  })
  const inbox = paced(down, (chunk: Buffer) => {
    peer.emit('download', chunk.length)
    feed(chunk)
  }, (waiting) => (waiting ? conn.pause() : conn.resume()))
  wire._layerseedOut = outbox
  conn.on('data', inbox)
}

/**
 * A sink that passes chunks on at once while `group` is not enabled and
 * nothing waits, and otherwise queues them and hands each on once the
 * group's bucket paid for it. `waiting` is told when a queue starts and ends.
 */
function paced<T extends Uint8Array>(group: ThrottleGroup, on: (chunk: T) => void, waiting?: (yes: boolean) => void): (chunk: T) => void {
  const queue: T[] = []
  const pump = async () => {
    waiting?.(true)
    // Bounded by the queue: every turn hands one chunk on.
    while (queue.length > 0) {
      const chunk = queue[0]
      await pay(group, chunk.length)
      queue.shift()
      on(chunk)
    }
    waiting?.(false)
  }
  return (chunk) => {
    if (queue.length === 0 && !group.getEnabled()) return on(chunk)
    queue.push(chunk)
    if (queue.length === 1) void pump()
  }
}

const WIRE_PATCHED = Symbol.for('layerseed.wireProto')

function patchWireProto(proto: WireInternals & { [WIRE_PATCHED]?: true }): void {
  if (proto[WIRE_PATCHED]) return
  proto[WIRE_PATCHED] = true
  const streamPush = proto._push
  proto._push = function (this: WireInternals, data: Uint8Array) {
    const out = this._layerseedOut
    // Encrypted wires are never given direct pipes (webtorrent's `secure` option is off), but keep their path intact.
    if (!out || this._encryptionMethod === 2) return streamPush.call(this, data)
    if (this._finished) return undefined
    out(data)
    return true
  }
  const concatWrite = proto._write
  const onMessage = proto._onMessage
  const onLength = proto._onMessageLength
  proto._write = function (this: WireInternals, data: Uint8Array, cb: (err: Error | null) => void) {
    // Handshakes (and any encryption) keep the original parser; only the message phase is rewritten.
    if (this._encryptionMethod === 2 || this._cryptoSyncPattern || (this._parser !== onMessage && this._parser !== onLength)) {
      return concatWrite.call(this, data, cb)
    }
    this._buffer.push(data)
    this._bufferSize += data.length
    // Bounded by the bytes buffered: every turn consumes some of them, or stops.
    for (;;) {
      const block = this._layerseedBlock
      if (block) {
        const n = drainInto(this._buffer, block.target, block.filled)
        block.filled += n
        this._bufferSize -= n
        if (block.filled < block.target.length) break
        this._layerseedBlock = undefined
        this._onPiece(block.index, block.begin, block.target)
        continue
      }
      if (this._parserSize <= 0 || (this._parser !== onMessage && this._parser !== onLength)) break
      if (this._parser === onMessage && this._layerseedPlace && this._parserSize > PIECE_HEADER && this._bufferSize >= PIECE_HEADER) {
        const head = peek(this._buffer, PIECE_HEADER)
        if (head[0] === PIECE_MESSAGE) {
          const view = new DataView(head.buffer, head.byteOffset, PIECE_HEADER)
          const index = view.getUint32(1)
          const begin = view.getUint32(5)
          const target = this._layerseedPlace(index, begin, this._parserSize - PIECE_HEADER)
          if (target) {
            take(this._buffer, PIECE_HEADER)
            this._bufferSize -= PIECE_HEADER
            this._parse(4, onLength)
            this._layerseedBlock = { target, filled: 0, index, begin }
            continue
          }
        }
      }
      if (this._bufferSize < this._parserSize) break
      const message = take(this._buffer, this._parserSize)
      this._bufferSize -= message.length
      this._parser.call(this, message)
    }
    cb(null)
  }
}

/** A piece message: id 7, then the piece index and the offset in it, 4 bytes each. */
const PIECE_MESSAGE = 7
const PIECE_HEADER = 9

/** The first `n` bytes of a list of chunks holding at least that many, without removing them. */
function peek(chunks: Uint8Array[], n: number): Uint8Array {
  if (chunks[0].length >= n) return chunks[0].subarray(0, n)
  const out = new Uint8Array(n)
  let off = 0
  for (const c of chunks) {
    if (off === n) break
    const k = Math.min(c.length, n - off)
    out.set(c.subarray(0, k), off)
    off += k
  }
  return out
}

/** Moves as many bytes as are buffered and fit from the chunks into `target` at `from`; returns how many. */
function drainInto(chunks: Uint8Array[], target: Uint8Array, from: number): number {
  let off = from
  while (off < target.length && chunks.length > 0) {
    const c = chunks[0]
    const k = Math.min(c.length, target.length - off)
    target.set(k === c.length ? c : c.subarray(0, k), off)
    off += k
    if (k === c.length) chunks.shift()
    else chunks[0] = c.subarray(k)
  }
  return off - from
}

/** Removes the first `n` bytes from a list of chunks holding at least that many; copies only when they span chunks. */
function take(chunks: Uint8Array[], n: number): Uint8Array {
  const first = chunks[0]
  if (first.length >= n) {
    if (first.length === n) chunks.shift()
    else chunks[0] = first.subarray(n)
    return first.subarray(0, n)
  }
  const out = Buffer.allocUnsafe(n)
  let off = 0
  while (off < n) {
    const c = chunks[0]
    const k = Math.min(c.length, n - off)
    out.set(k === c.length ? c : c.subarray(0, k), off)
    off += k
    if (k === c.length) chunks.shift()
    else chunks[0] = c.subarray(k)
  }
  return out
}
