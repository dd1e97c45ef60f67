import { BlobCheck, type BlobHashes } from './blob-hasher.js'
import type { BlobInfo, BlobWriter } from './blob-store.js'
import type { Digest } from './domain.js'
import { isInsufficientStorage } from './errors.js'
import type { Logger } from './logger.js'

/** A store's writer that tells the cache when its blob is in, and when it no longer holds a reservation. */
export class StoringWriter implements BlobWriter {
  private over = false

  constructor(
    private readonly inner: BlobWriter,
    private readonly on: { committed(info: BlobInfo): void; ended(): void },
  ) {}

  get bytes(): number {
    return this.inner.bytes
  }

  write(chunk: Buffer): Promise<void> {
    return this.inner.write(chunk)
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
