import fs, { type FileHandle } from 'node:fs/promises'
import type { BlobCheck, BlobHashes } from './blob-hasher.js'
import type { BlobInfo, RandomAccessWriter } from './blob-store.js'
import { AppError, storageError } from '../core/errors.js'

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
export class RandomAccessBlobWriter implements RandomAccessWriter {
  /** Ranges `writeAt` has put (or is putting) on disk, by offset. */
  private readonly placed = new Map<number, number>()
  private readonly pending = new Set<Promise<void>>()
  private failed: unknown
  private state: 'open' | 'committed' | 'closed' = 'open'
  private closing: Promise<void> | undefined

  constructor(
    private readonly check: BlobCheck,
    private readonly tmp: string,
    private readonly final: string,
    private readonly fh: FileHandle,
  ) {}

  get size(): number {
    return this.check.size
  }

  get bytes(): number {
    return this.check.bytes
  }

  /** Writes bytes at an offset; they count towards the sha256 only when `write` reaches them. */
  async writeAt(offset: number, buf: Uint8Array): Promise<void> {
    if (offset < 0 || offset + buf.length > this.size) {
      throw new AppError('DIGEST_MISMATCH', `bytes ${offset}+${buf.length} lie outside ${this.check.digest}'s ${this.size} bytes`)
    }
    if (this.state !== 'open') throw new Error(`${this.check.digest}: write after the blob was ${this.state}`)
    this.placed.set(offset, buf.length)
    const w = writeFully(this.fh, buf, offset)
    this.pending.add(w)
    try {
      await w
    } catch (err) {
      this.placed.delete(offset)
      this.failed ??= err
      throw storageError(err, `writing ${this.check.digest}`)
    } finally {
      this.pending.delete(w)
    }
  }

  async readAt(offset: number, length: number): Promise<Buffer> {
    if (this.state === 'closed') throw new Error(`${this.check.digest}: read after release`)
    return readFully(this.fh, offset, length)
  }

  async write(chunk: Buffer): Promise<void> {
    const offset = this.check.bytes
    this.check.update(chunk)
    if (this.placed.get(offset) === chunk.length) return
    await this.writeAt(offset, chunk)
  }

  verify(): Promise<BlobHashes> {
    return this.check.finishOr(() => this.abort())
  }

  async commit(): Promise<{ info: BlobInfo; hashes: BlobHashes }> {
    if (this.state !== 'open') throw new Error(`${this.check.digest}: commit after the blob was ${this.state}`)
    const hashes = await this.verify()
    try {
      await Promise.allSettled([...this.pending])
      if (this.failed) throw this.failed
      await this.fh.sync()
      await fs.rename(this.tmp, this.final)
    } catch (err) {
      await this.abort()
      throw storageError(err, `storing ${this.check.digest}`)
    }
    this.state = 'committed'
    return { info: { digest: this.check.digest, size: this.size, path: this.final }, hashes }
  }

  /** Removes the partial file; after `commit` only closes the file. Safe to call twice. */
  async abort(): Promise<void> {
    const wasOpen = this.state === 'open'
    await this.close()
    if (wasOpen) await fs.rm(this.tmp, { force: true })
  }

  async detach(): Promise<BlobCheck> {
    await this.abort()
    return this.check
  }

  async release(): Promise<void> {
    if (this.state === 'committed') await this.close()
  }

  private close(): Promise<void> {
    this.state = 'closed'
    this.closing ??= this.fh.close().catch(() => undefined)
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
