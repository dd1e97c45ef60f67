import { createHash, type Hash } from 'node:crypto'
import type { Digest } from '../core/domain.js'
import { AppError } from '../core/errors.js'

/**
 * Fixed piece-length rule: a power of two between 256 KiB and 4 MiB, aiming at
 * about 1024 pieces. It depends only on the size, so every sidecar and agent
 * builds the same torrent (and info-hash) for the same blob.
 */
export function pieceLengthFor(size: number): number {
  const min = 256 * 1024
  const max = 4 * 1024 * 1024
  let len = min
  while (len < max && size / len > 1024) len *= 2
  return len
}

export interface BlobHashes {
  readonly sha256Hex: string
  readonly size: number
  readonly pieceLength: number
  readonly pieces: Buffer
}

/** Hashes a blob once as it streams: sha256 of the whole and SHA-1 of each torrent piece. */
export class BlobHasher {
  private readonly whole = createHash('sha256')
  private piece: Hash = createHash('sha1')
  private inPiece = 0
  private readonly done: Buffer[] = []
  private total = 0
  readonly pieceLength: number

  /** With `pieces: false` only the sha256 is computed, for blobs whose torrent is already known. */
  constructor(
    readonly expectedSize: number,
    private readonly withPieces = true,
  ) {
    this.pieceLength = pieceLengthFor(expectedSize)
  }

  get bytes(): number {
    return this.total
  }

  update(chunk: Buffer): void {
    this.whole.update(chunk)
    this.total += chunk.length
    if (!this.withPieces) return
    let off = 0
    while (off < chunk.length) {
      const take = Math.min(this.pieceLength - this.inPiece, chunk.length - off)
      this.piece.update(chunk.subarray(off, off + take))
      this.inPiece += take
      off += take
      if (this.inPiece === this.pieceLength) {
        this.done.push(this.piece.digest())
        this.piece = createHash('sha1')
        this.inPiece = 0
      }
    }
  }

  finish(): BlobHashes {
    if (this.inPiece > 0) this.done.push(this.piece.digest())
    return {
      sha256Hex: this.whole.digest('hex'),
      size: this.total,
      pieceLength: this.pieceLength,
      pieces: Buffer.concat(this.done),
    }
  }
}

/** Hashes a blob as it streams and, at the end, checks it against its digest and size. */
export class BlobCheck {
  private readonly hasher: BlobHasher
  private result: BlobHashes | undefined

  constructor(
    readonly digest: Digest,
    readonly size: number,
    pieces = true,
  ) {
    this.hasher = new BlobHasher(size, pieces)
  }

  get bytes(): number {
    return this.hasher.bytes
  }

  /** Throws DIGEST_MISMATCH, hashing nothing, when the chunk runs past the announced size. */
  update(chunk: Buffer): void {
    // A source that sends more than the size it announced is wrong already: stop before hashing it.
    if (this.hasher.bytes + chunk.length > this.size) {
      throw new AppError('DIGEST_MISMATCH', `content of ${this.digest} runs past its ${this.size} bytes`)
    }
    this.hasher.update(chunk)
  }

  /** As `finish`, running `cleanup` (a writer removing its partial file) before a mismatch is thrown. */
  async finishOr(cleanup: () => Promise<void>): Promise<BlobHashes> {
    try {
      return this.finish()
    } catch (err) {
      await cleanup()
      throw err
    }
  }

  /** The hashes, or DIGEST_MISMATCH when the bytes are not the blob. Asking again answers the same. */
  finish(): BlobHashes {
    const hashes = (this.result ??= this.hasher.finish())
    if (hashes.sha256Hex !== this.digest.hex || hashes.size !== this.size) {
      throw new AppError('DIGEST_MISMATCH', `content of ${this.digest} hashed to sha256:${hashes.sha256Hex} (${hashes.size} of ${this.size} bytes)`)
    }
    return hashes
  }
}
