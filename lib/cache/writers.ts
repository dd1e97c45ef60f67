import { BlobCheck, type BlobHashes } from '../store/blob-hasher.js'
import type { BlobInfo, BlobWriter, RandomAccessWriter } from '../store/blob-store.js'
import type { Digest } from '../core/domain.js'
import { isInsufficientStorage } from '../core/errors.js'
import type { Logger } from '../core/logger.js'

/** What a storing writer tells the cache. */
export interface WriterHooks {
  /** The blob is in. */
  committed(info: BlobInfo): void
  /** The writer no longer holds a reservation. */
  ended(): void
}

/** A store's writer that tells the cache when its blob is in, and when it no longer holds a reservation. */
export class StoringWriter<W extends BlobWriter = BlobWriter> implements BlobWriter {
  private over = false

  constructor(
    protected readonly inner: W,
    private readonly on: WriterHooks,
  ) {}

  get bytes(): number {
    return this.inner.bytes
  }

  write(chunk: Buffer): Promise<void> {
    return this.inner.write(chunk)
  }

  async verify(): Promise<BlobHashes> {
    try {
      return await this.inner.verify()
    } catch (err) {
      // A mismatch removed the file: the reservation goes with it.
      this.end()
      throw err
    }
  }

  async commit(): Promise<{ info: BlobInfo; hashes: BlobHashes }> {
    try {
      const done = await this.inner.commit()
      this.on.committed(done.info)
      return done
    } finally {
      this.end()
    }
  }

  async abort(): Promise<void> {
    this.end()
    await this.inner.abort()
  }

  async detach(): Promise<BlobCheck> {
    this.end()
    return this.inner.detach()
  }

  private end(): void {
    if (this.over) return
    this.over = true
    this.on.ended()
  }
}

/** StoringWriter for a blob written out of order: the swarm's chunk store writes and reads through it. */
export class StoringRandomAccessWriter extends StoringWriter<RandomAccessWriter> implements RandomAccessWriter {
  get size(): number {
    return this.inner.size
  }

  writeAt(offset: number, buf: Uint8Array): Promise<void> {
    return this.inner.writeAt(offset, buf)
  }

  readAt(offset: number, length: number): Promise<Buffer> {
    return this.inner.readAt(offset, length)
  }

  release(): Promise<void> {
    return this.inner.release()
  }
}

/**
 * Stores a blob when the disk allows and only verifies it otherwise. A full
 * disk, up front or midway, is logged once and turns it into a verifier: the
 * bytes must still reach a client, checked, but nothing half-written stays.
 */
export class CacheWriter {
  private constructor(
    private writer: BlobWriter | undefined,
    private check: BlobCheck | undefined,
    private readonly digest: Digest,
    private readonly logger: Logger,
  ) {}

  static async open(begin: () => Promise<BlobWriter>, digest: Digest, size: number, pieces: boolean, logger: Logger): Promise<CacheWriter> {
    try {
      return new CacheWriter(await begin(), undefined, digest, logger)
    } catch (err) {
      if (!isInsufficientStorage(err)) throw err
      logger.warn({ digest: digest.toString(), code: 'INSUFFICIENT_STORAGE', err: (err as Error).message }, 'not caching the blob; serving it straight through')
      return new CacheWriter(undefined, new BlobCheck(digest, size, pieces), digest, logger)
    }
  }

  /** False once the blob is only verified, not stored. */
  get caching(): boolean {
    return this.writer !== undefined
  }

  async write(chunk: Buffer): Promise<void> {
    if (this.writer) {
      try {
        await this.writer.write(chunk)
        return
      } catch (err) {
        if (!isInsufficientStorage(err)) throw err
        await this.giveUp(err)
      }
    }
    this.check!.update(chunk)
  }

  /** The hashes, once the bytes proved to be the blob, before anything is synced. Throws DIGEST_MISMATCH. */
  async verify(): Promise<BlobHashes> {
    return this.writer ? this.writer.verify() : this.check!.finish()
  }

  /** The hashes, and where the blob is stored unless the disk could not hold it. Throws DIGEST_MISMATCH. */
  async commit(): Promise<{ info?: BlobInfo; hashes: BlobHashes }> {
    if (this.writer) {
      try {
        return await this.writer.commit()
      } catch (err) {
        if (!isInsufficientStorage(err)) throw err
        // Commit reports a full disk only after the bytes verified.
        await this.giveUp(err)
      }
    }
    return { hashes: this.check!.finish() }
  }

  async abort(): Promise<void> {
    await this.writer?.abort()
  }

  private async giveUp(err: unknown): Promise<void> {
    this.logger.warn({ digest: this.digest.toString(), code: 'INSUFFICIENT_STORAGE', err: (err as Error).message }, 'disk full while caching the blob; serving the rest straight through')
    this.check = await this.writer!.detach()
    this.writer = undefined
  }
}
