import type { BlockPlacer, WireInternals } from './internals.js'

/** Lets a download copy each block it receives straight into its piece's buffer (see `patchWireParser`). */
export function placeBlocks(wire: object, placer: BlockPlacer): void {
  ;(wire as WireInternals)._layerseedPlace = placer
}

/**
 * Tells `fn` when the peer on `wire` sends a block nobody asked it for (or
 * of another length than asked), or a message the parser refuses. Blocks are
 * checked here because bittorrent-protocol drops an unrequested block
 * silently, so a peer could flood a download with them forever.
 */
export function onViolation(wire: object, fn: (reason: string) => void): void {
  ;(wire as WireInternals)._layerseedViolation = fn
}

const WIRE_PATCHED = Symbol.for('layerseed.wireProto')

/**
 * Rewrites the message phase of bittorrent-protocol's parser (once per
 * prototype): it concatenated everything buffered on each socket read, which
 * copied a large block once per read that carried part of it. It now copies
 * each message at most once, when it spans reads, and a block whose place a
 * download gave (`placeBlocks`) is copied from the socket's buffers straight
 * into its piece as it arrives: no copy of the message, no second copy when
 * the piece is assembled, and far less for the GC. Messages go to
 * `_layerseedOut` when the direct pipes set it.
 */
export function patchWireParser(proto: WireInternals & { [WIRE_PATCHED]?: true }): void {
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
  const onPiece = proto._onPiece
  proto._onPiece = function (this: WireInternals, index: number, offset: number, buf: Uint8Array) {
    if (!this.requests.some((r) => r.piece === index && r.offset === offset && r.length === buf.length)) {
      const asked = this.requests.find((r) => r.piece === index && r.offset === offset)
      this._layerseedViolation?.(asked ? `a block of ${buf.length} bytes where ${asked.length} were asked for` : `a block never asked for (piece ${index}, offset ${offset})`)
      return
    }
    onPiece.call(this, index, offset, buf)
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
