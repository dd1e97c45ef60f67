/**
 * Block size agents request. webtorrent answers requests up to 128 KiB (it
 * drops peers asking for more), and every peer of a layerseed swarm is
 * webtorrent. Eight times BitTorrent's usual 16 KiB: a fraction of the request
 * messages, callbacks and socket writes per byte.
 */
export const BLOCK_LENGTH = 128 * 1024

/**
 * One piece being downloaded, in BLOCK_LENGTH blocks, assembled in place:
 * blocks placed with `slot` are written into the piece's buffer as they
 * arrive, others are copied in by `flush`. `length` and `missing` are what
 * webtorrent reads (for its progress figures).
 */
export class BigPiece {
  missing: number
  private readonly blocks: number
  private readonly remainder: number
  private received = 0
  private readonly got: Array<Uint8Array | undefined>
  private readonly cancelled: number[] = []
  private reserved = 0
  private whole: Buffer | undefined
  private flushed = false

  constructor(readonly length: number) {
    this.missing = length
    this.blocks = Math.ceil(length / BLOCK_LENGTH)
    this.remainder = length % BLOCK_LENGTH || BLOCK_LENGTH
    this.got = new Array<Uint8Array | undefined>(this.blocks)
  }

  blockLength(i: number): number {
    return i === this.blocks - 1 ? this.remainder : BLOCK_LENGTH
  }

  /** A block nobody was asked for yet (or whose request failed), or -1. */
  reserve(): number {
    if (this.flushed) return -1
    if (this.cancelled.length) return this.cancelled.pop()!
    return this.reserved < this.blocks ? this.reserved++ : -1
  }

  /** Makes a reserved block available again, after its request failed. */
  cancel(i: number): void {
    if (!this.flushed) this.cancelled.push(i)
  }

  /** Where data for the block at `begin` should be written, if that block is still wanted. */
  slot(begin: number, length: number): Uint8Array | undefined {
    if (this.flushed || begin % BLOCK_LENGTH !== 0) return undefined
    const i = begin / BLOCK_LENGTH
    if (i >= this.blocks || length !== this.blockLength(i) || this.got[i]) return undefined
    this.whole ??= Buffer.allocUnsafe(this.length)
    return this.whole.subarray(begin, begin + length)
  }

  /** Records block `i`; true once every block is here. */
  set(i: number, data: Uint8Array): boolean {
    if (this.flushed || this.got[i]) return !this.flushed && this.received === this.blocks
    this.got[i] = data
    this.received++
    this.missing -= data.length
    return this.received === this.blocks
  }

  /** The whole piece, once: afterwards the piece takes nothing more. */
  flush(): Buffer | undefined {
    if (this.flushed || this.received !== this.blocks) return undefined
    const out = (this.whole ??= Buffer.allocUnsafe(this.length))
    for (let i = 0; i < this.blocks; i++) {
      const b = this.got[i]!
      // Placed blocks are in `whole` already; others arrived unplaced and are copied in.
      if (b.buffer !== out.buffer || b.byteOffset !== out.byteOffset + i * BLOCK_LENGTH) out.set(b, i * BLOCK_LENGTH)
    }
    this.flushed = true
    this.whole = undefined
    this.got.fill(undefined)
    return out
  }
}
