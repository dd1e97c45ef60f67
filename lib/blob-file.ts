import { createHash } from 'node:crypto'
import fs, { type FileHandle } from 'node:fs/promises'
import type { Digest } from './domain.js'
import { AppError } from './errors.js'
import { pieceLengthFor, type BlobHashes } from './blob-hasher.js'
import type { BlobInfo, BlobWriter } from './blob-store.js'

/**
 * A blob written out of order (swarm pieces at their offsets) and hashed in
 * order. `writeAt` puts verified pieces in place as they arrive; `write`
 * feeds the sha256 with the next bytes in order and writes them only when no
 * `writeAt` already put that exact range on disk, so each byte reaches the
 * disk once. `readAt` serves what was written, also after `commit`, until
 * `release`. Only `commit` publishes the file, once the sha256 matched.
 *
 * Not safe for concurrent `write` calls; `writeAt` and `readAt` may overlap
 * each other and `write`.
 */
export class RandomAccessBlobWriter implements BlobWriter {
  private readonly sha256 = createHash('sha256')
  private hashed = 0
  /** Ranges `writeAt` has put (or is putting) on disk, by offset. */
  private readonly placed = new Map<number, number>()
  private readonly pending = new Set<Promise<void>>()
  private failed: unknown
  private verified: BlobHashes | undefined
  private state: 'open' | 'committed' | 'closed' = 'open'
  private closing: Promise<void> | undefined

  constructor(
    private readonly digest: Digest,
    readonly size: number,
    private readonly tmp: string,
    private readonly final: string,
    private readonly fh: FileHandle,
  ) {}

  get bytes(): number {
    return this.hashed
  }

  /** Writes bytes at an offset; they count towards the sha256 only when `write` reaches them. */
  async writeAt(offset: number, buf: Uint8Array): Promise<void> {
    if (offset < 0 || offset + buf.length > this.size) throw new AppError('DIGEST_MISMATCH', `bytes ${offset}+${buf.length} lie outside ${this.digest}'s ${this.size} bytes`)
    if (this.state !== 'open') throw new Error(`${this.digest}: write after the blob was ${this.state}`)
    this.placed.set(offset, buf.length)
    const w = writeFully(this.fh, buf, offset)
    this.pending.add(w)
    try {
      await w
    } catch (err) {
      this.placed.delete(offset)
      this.failed ??= err
      throw err
    } finally {
      this.pending.delete(w)
    }
  }

  async readAt(offset: number, length: number): Promise<Buffer> {
    if (this.state === 'closed') throw new Error(`${this.digest}: read after release`)
    return readFully(this.fh, offset, length)
  }

  async write(chunk: Buffer): Promise<void> {
    if (this.hashed + chunk.length > this.size) {
      throw new AppError('DIGEST_MISMATCH', `content of ${this.digest} runs past its ${this.size} bytes`)
    }
    const offset = this.hashed
    this.sha256.update(chunk)
    this.hashed += chunk.length
    if (this.placed.get(offset) === chunk.length) return
    await this.writeAt(offset, chunk)
  }

  async verify(): Promise<BlobHashes> {
    if (this.verified) return this.verified
    if (this.state !== 'open') throw new Error(`${this.digest}: verify after the blob was ${this.state}`)
    const hex = this.sha256.digest('hex')
    if (hex !== this.digest.hex || this.hashed !== this.size) {
      await this.abort()
      throw new AppError('DIGEST_MISMATCH', `content of ${this.digest} hashed to sha256:${hex} (${this.hashed} of ${this.size} bytes)`)
    }
    // The torrent's pieces describe these bytes already: no piece hashes here, as with `begin(..., { pieces: false })`.
    this.verified = { sha256Hex: hex, size: this.size, pieceLength: pieceLengthFor(this.size), pieces: Buffer.alloc(0) }
    return this.verified
  }

  async commit(): Promise<{ info: BlobInfo; hashes: BlobHashes }> {
    const hashes = await this.verify()
    await Promise.allSettled([...this.pending])
    if (this.failed) {
      await this.abort()
      throw this.failed
    }
    await this.fh.sync()
    await fs.rename(this.tmp, this.final)
    this.state = 'committed'
    return { info: { digest: this.digest, size: this.size, path: this.final }, hashes }
  }

  /** Removes the partial file; after `commit` only closes the file. Safe to call twice. */
  async abort(): Promise<void> {
    const wasOpen = this.state === 'open'
    await this.close()
    if (wasOpen) await fs.rm(this.tmp, { force: true })
  }

  /** Closes the file once committed (readers are done with it); before that, the owner aborts. */
  async release(): Promise<void> {
    if (this.state === 'committed') await this.close()
  }

  private close(): Promise<void> {
    this.state = 'closed'
    this.closing ??= this.fh.close()
    return this.closing
  }
}

async function writeFully(fh: FileHandle, buf: Uint8Array, position: number): Promise<void> {
  let done = 0
  // Bounded: each turn writes at least one byte (a zero-byte write of a non-empty buffer would be an fs error).
  while (done < buf.length) {
    const { bytesWritten } = await fh.write(buf, done, buf.length - done, position + done)
    if (bytesWritten <= 0) throw new Error(`write at ${position + done} wrote nothing`)
    done += bytesWritten
  }
}

/** `length` bytes at `offset`; an error if the file ends before. */
export async function readFully(fh: FileHandle, offset: number, length: number): Promise<Buffer> {
  const buf = Buffer.allocUnsafe(length)
  let got = 0
  // Bounded: each turn reads at least one byte or stops.
  while (got < length) {
    const { bytesRead } = await fh.read(buf, got, length - got, offset + got)
    if (bytesRead === 0) throw new Error(`short read at ${offset + got}`)
    got += bytesRead
  }
  return buf
}
