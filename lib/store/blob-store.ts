import { randomBytes } from 'node:crypto'
import { createReadStream, createWriteStream, type WriteStream } from 'node:fs'
import fs from 'node:fs/promises'
import { once } from 'node:events'
import type { Readable } from 'node:stream'
import { Digest } from '../core/domain.js'
import { storageError } from '../core/errors.js'
import { BlobCheck, BlobHasher, type BlobHashes } from './blob-hasher.js'
import { safeJoin } from '../core/safe-path.js'
import { RandomAccessBlobWriter } from './blob-file.js'

export interface BlobInfo {
  readonly digest: Digest
  readonly size: number
  /** Where the bytes are, for the swarm, which reads files by path. */
  readonly path: string
}

export interface StoredBlob extends BlobInfo {
  /** Last access (ms since the epoch) as `touch` recorded it; it survives restarts. */
  readonly accessedAt: number
}

export interface DiskSpace {
  /** Bytes a new file may still take on the store's filesystem. */
  readonly freeBytes: number
  readonly totalBytes: number
}

/**
 * Content-addressed blob storage under one data dir.
 *
 * Contract: `stat` answers undefined for an absent blob and never throws for
 * not-found; `touch` and `remove` do nothing for an absent blob. A blob
 * becomes visible only through `BlobWriter.commit`, which checks the sha256,
 * fsyncs and renames, so readers never see partial or unverified content.
 * Safe for concurrent use; two writers of one digest both succeed and the
 * last rename wins with identical bytes. A full disk surfaces as AppError
 * INSUFFICIENT_STORAGE and leaves no partial file.
 */
export interface BlobStore {
  stat(digest: Digest): Promise<BlobInfo | undefined>
  createReadStream(digest: Digest, opts?: { start?: number }): Readable
  /** Starts a write of a blob whose size is known, hashing as it goes (torrent pieces too, unless `pieces: false`). */
  begin(digest: Digest, size: number, opts?: { pieces?: boolean }): Promise<BlobWriter>
  list(): Promise<StoredBlob[]>
  /** Records a blob's last access durably. */
  touch(digest: Digest, atMs: number): Promise<void>
  /** Takes a blob out at once; a reader that already opened it reads on. */
  remove(digest: Digest): Promise<void>
  space(): Promise<DiskSpace>
  /** Starts a blob written out of order (a swarm download's pieces) and hashed in order; see RandomAccessBlobWriter. */
  beginRandomAccess(digest: Digest, size: number): Promise<RandomAccessWriter>
  /** The directory a swarm seeds from: a blob's file is `<dir>/<digest hex>`. */
  readonly blobDir: string
}

export interface BlobWriter {
  readonly bytes: number
  /**
   * Throws INSUFFICIENT_STORAGE when the disk is full. The bytes hashed so far
   * are exactly those of the writes that resolved, so `detach` can go on.
   */
  write(chunk: Buffer): Promise<void>
  /**
   * Checks the sha256 and size of what was written, without publishing it, so
   * a caller can hand the bytes on before the file is synced. Throws
   * DIGEST_MISMATCH (and removes the file) on a bad digest or size. Idempotent.
   */
  verify(): Promise<BlobHashes>
  /**
   * Verifies (if `verify` was not called) and publishes the blob. Throws as
   * `verify` does; INSUFFICIENT_STORAGE only once the bytes verified.
   */
  commit(): Promise<{ info: BlobInfo; hashes: BlobHashes }>
  /** Removes the partial file. Safe to call after commit or twice. */
  abort(): Promise<void>
  /** Gives up storing: removes the partial file and returns the check so far, to verify the rest without storing it. */
  detach(): Promise<BlobCheck>
}

/**
 * A writer whose bytes may also land out of order: `writeAt` puts verified
 * swarm pieces at their offsets, `write` then hashes the bytes in order and
 * writes only what `writeAt` did not, and `readAt` serves what is written,
 * also after commit, until `release`. It is the chunk store's target for a
 * swarm download (lib/piece-store.ts).
 */
export interface RandomAccessWriter extends BlobWriter {
  readonly size: number
  /** Throws INSUFFICIENT_STORAGE when the disk is full. */
  writeAt(offset: number, buf: Uint8Array): Promise<void>
  readAt(offset: number, length: number): Promise<Buffer>
  /** Closes the file once committed (its readers are done); before that, the owner aborts. */
  release(): Promise<void>
}

/** Stats at once while listing: enough to keep a disk busy without opening thousands of handles. */
const LIST_CONCURRENCY = 64

export class FileBlobStore implements BlobStore {
  readonly blobDir: string
  private readonly tmpDir: string

  constructor(readonly dataDir: string) {
    this.blobDir = safeJoin(dataDir, 'blobs', 'sha256')
    this.tmpDir = safeJoin(dataDir, 'tmp')
  }

  /** Creates the layout and drops what an interrupted run left in tmp/. */
  async init(): Promise<void> {
    await fs.mkdir(this.blobDir, { recursive: true })
    await fs.rm(this.tmpDir, { recursive: true, force: true })
    await fs.mkdir(this.tmpDir, { recursive: true })
  }

  private pathOf(digest: Digest): string {
    return safeJoin(this.blobDir, digest.hex)
  }

  async stat(digest: Digest): Promise<BlobInfo | undefined> {
    const st = await this.statFile(digest)
    return st && { digest, size: st.size, path: this.pathOf(digest) }
  }

  private async statFile(digest: Digest): Promise<import('node:fs').Stats | undefined> {
    try {
      const st = await fs.stat(this.pathOf(digest))
      return st.isFile() ? st : undefined
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
      throw err
    }
  }

  createReadStream(digest: Digest, opts: { start?: number } = {}): Readable {
    return createReadStream(this.pathOf(digest), { start: opts.start, highWaterMark: 256 * 1024 })
  }

  async begin(digest: Digest, size: number, opts: { pieces?: boolean } = {}): Promise<BlobWriter> {
    const tmp = this.tmpPathFor(digest)
    // A deep buffer: a pull waits on the disk only when it falls a megabyte behind, not once per chunk.
    const out = createWriteStream(tmp, { flags: 'wx', highWaterMark: 1 << 20 })
    try {
      await once(out, 'open')
    } catch (err) {
      throw storageError(err, `creating a file for ${digest}`)
    }
    return new FileBlobWriter(new BlobCheck(digest, size, opts.pieces ?? true), tmp, this.pathOf(digest), out)
  }

  async beginRandomAccess(digest: Digest, size: number): Promise<RandomAccessWriter> {
    const tmp = this.tmpPathFor(digest)
    try {
      return new RandomAccessBlobWriter(new BlobCheck(digest, size, false), tmp, this.pathOf(digest), await fs.open(tmp, 'wx+'))
    } catch (err) {
      throw storageError(err, `creating a file for ${digest}`)
    }
  }

  private tmpPathFor(digest: Digest): string {
    return safeJoin(this.tmpDir, `${digest.hex}.${randomBytes(6).toString('hex')}.part`)
  }

  async list(): Promise<StoredBlob[]> {
    const names = (await fs.readdir(this.blobDir)).filter((n) => Digest.isValid(`sha256:${n}`))
    const out: StoredBlob[] = []
    for (let i = 0; i < names.length; i += LIST_CONCURRENCY) {
      const batch = await Promise.all(names.slice(i, i + LIST_CONCURRENCY).map(async (name) => {
        const digest = Digest.fromHex(name)
        const st = await this.statFile(digest)
        return st && { digest, size: st.size, path: this.pathOf(digest), accessedAt: st.atimeMs }
      }))
      for (const b of batch) if (b) out.push(b)
    }
    return out
  }

  /**
   * The file's atime, set explicitly: it survives restarts with no journal to
   * keep in step with the files, and works on noatime and relatime mounts.
   */
  async touch(digest: Digest, atMs: number): Promise<void> {
    const st = await this.statFile(digest)
    if (!st) return
    await fs.utimes(this.pathOf(digest), atMs / 1000, st.mtime).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') throw err
    })
  }

  /** Renamed into tmp/ first, so a blob committed again meanwhile under the same name is never the one deleted. */
  async remove(digest: Digest): Promise<void> {
    const gone = safeJoin(this.tmpDir, `removed.${digest.hex}.${randomBytes(6).toString('hex')}`)
    try {
      await fs.rename(this.pathOf(digest), gone)
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return
      throw err
    }
    await fs.rm(gone, { force: true })
  }

  async space(): Promise<DiskSpace> {
    const s = await fs.statfs(this.dataDir)
    return { freeBytes: s.bavail * s.bsize, totalBytes: s.blocks * s.bsize }
  }

}

class FileBlobWriter implements BlobWriter {
  private closed = false
  /** The first error of the file stream (ENOSPC, mostly): reported by the next write or commit. */
  private failure: Error | undefined

  constructor(
    private readonly check: BlobCheck,
    private readonly tmp: string,
    private readonly final: string,
    private readonly out: WriteStream,
  ) {
    out.on('error', (err) => {
      this.failure ??= err
    })
  }

  get bytes(): number {
    return this.check.bytes
  }

  async write(chunk: Buffer): Promise<void> {
    if (this.failure) throw storageError(this.failure, `writing ${this.check.digest}`)
    this.check.update(chunk)
    if (this.out.write(chunk)) return
    // Not thrown here: this chunk is hashed already, so the next call reports a failure.
    await new Promise<void>((resolve) => {
      const done = () => {
        this.out.off('drain', done)
        this.out.off('error', done)
        resolve()
      }
      this.out.once('drain', done)
      this.out.once('error', done)
    })
  }

  verify(): Promise<BlobHashes> {
    return this.check.finishOr(() => this.abort())
  }

  async commit(): Promise<{ info: BlobInfo; hashes: BlobHashes }> {
    const hashes = await this.verify()
    try {
      await this.close()
      if (this.failure) throw this.failure
      const fh = await fs.open(this.tmp, 'r')
      try {
        await fh.sync()
      } finally {
        await fh.close()
      }
      await fs.rename(this.tmp, this.final)
    } catch (err) {
      await fs.rm(this.tmp, { force: true })
      throw storageError(err, `storing ${this.check.digest}`)
    }
    return { info: { digest: this.check.digest, size: hashes.size, path: this.final }, hashes }
  }

  async abort(): Promise<void> {
    await this.close().catch(() => undefined)
    await fs.rm(this.tmp, { force: true })
  }

  async detach(): Promise<BlobCheck> {
    await this.abort()
    return this.check
  }

  private async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    if (this.out.destroyed) return
    await new Promise<void>((resolve, reject) => this.out.end((err?: Error | null) => (err ? reject(err) : resolve())))
  }
}

/**
 * Re-hashes a stored blob (sha256 and torrent pieces in one pass), from its
 * file unless given another stream; undefined when it no longer matches its digest.
 */
export async function rehashBlob(info: BlobInfo, bytes: Readable = createReadStream(info.path, { highWaterMark: 1024 * 1024 })): Promise<BlobHashes | undefined> {
  const hasher = new BlobHasher(info.size)
  for await (const chunk of bytes) hasher.update(chunk as Buffer)
  const hashes = hasher.finish()
  return hashes.sha256Hex === info.digest.hex ? hashes : undefined
}
