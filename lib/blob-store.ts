import { randomBytes } from 'node:crypto'
import { createReadStream, createWriteStream, type WriteStream } from 'node:fs'
import fs from 'node:fs/promises'
import { once } from 'node:events'
import type { Readable } from 'node:stream'
import { Digest } from './domain.js'
import { AppError } from './errors.js'
import { BlobHasher, type BlobHashes } from './blob-hasher.js'
import { safeJoin } from './safe-path.js'
import { RandomAccessBlobWriter } from './blob-file.js'

export interface BlobInfo {
  readonly digest: Digest
  readonly size: number
  /** Where the bytes are, for the swarm, which reads files by path. */
  readonly path: string
}

/**
 * Content-addressed blob storage under one data dir.
 *
 * Contract: `stat` answers undefined for an absent blob and never throws for
 * not-found. A blob becomes visible only through `BlobWriter.commit`, which
 * checks the sha256, fsyncs and renames, so readers never see partial or
 * unverified content. Safe for concurrent use; two writers of one digest both
 * succeed and the last rename wins with identical bytes.
 */
export interface BlobStore {
  stat(digest: Digest): Promise<BlobInfo | undefined>
  createReadStream(digest: Digest, opts?: { start?: number }): Readable
  /** Starts a write of a blob whose size is known, hashing as it goes (torrent pieces too, unless `pieces: false`). */
  begin(digest: Digest, size: number, opts?: { pieces?: boolean }): Promise<BlobWriter>
  /** Starts a blob written out of order (swarm pieces) and hashed in order; see RandomAccessBlobWriter. */
  beginRandomAccess(digest: Digest, size: number): Promise<RandomAccessBlobWriter>
  list(): Promise<BlobInfo[]>
  /** The directory a swarm seeds from: a blob's file is `<dir>/<digest hex>`. */
  readonly blobDir: string
}

export interface BlobWriter {
  readonly bytes: number
  write(chunk: Buffer): Promise<void>
  /**
   * Checks the sha256 and size of what was written, without publishing it, so
   * a caller can hand the bytes on before the file is synced. Throws AppError
   * DIGEST_MISMATCH (and removes the file) on a bad digest or size. Idempotent.
   */
  verify(): Promise<BlobHashes>
  /** Verifies (if `verify` was not called) and publishes the blob. Throws as `verify` does. */
  commit(): Promise<{ info: BlobInfo; hashes: BlobHashes }>
  /** Removes the partial file. Safe to call after commit or twice. */
  abort(): Promise<void>
}

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
    const p = this.pathOf(digest)
    try {
      const st = await fs.stat(p)
      return st.isFile() ? { digest, size: st.size, path: p } : undefined
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
    // A deep buffer: the pull waits on the disk only when it falls a megabyte behind, not once per chunk.
    const out = createWriteStream(tmp, { flags: 'wx', highWaterMark: 1 << 20 })
    await once(out, 'open')
    return new FileBlobWriter(digest, new BlobHasher(size, opts.pieces ?? true), tmp, this.pathOf(digest), out)
  }

  async beginRandomAccess(digest: Digest, size: number): Promise<RandomAccessBlobWriter> {
    const tmp = this.tmpPathFor(digest)
    return new RandomAccessBlobWriter(digest, size, tmp, this.pathOf(digest), await fs.open(tmp, 'wx+'))
  }

  private tmpPathFor(digest: Digest): string {
    return safeJoin(this.tmpDir, `${digest.hex}.${randomBytes(6).toString('hex')}.part`)
  }

  async list(): Promise<BlobInfo[]> {
    const names = await fs.readdir(this.blobDir)
    const out: BlobInfo[] = []
    for (const name of names) {
      if (!Digest.isValid(`sha256:${name}`)) continue
      const info = await this.stat(Digest.fromHex(name))
      if (info) out.push(info)
    }
    return out
  }

}

class FileBlobWriter implements BlobWriter {
  private closed = false
  private verified: BlobHashes | undefined
  private readonly size: number

  constructor(
    private readonly digest: Digest,
    private readonly hasher: BlobHasher,
    private readonly tmp: string,
    private readonly final: string,
    private readonly out: WriteStream,
  ) {
    this.size = hasher.expectedSize
  }

  get bytes(): number {
    return this.hasher.bytes
  }

  async write(chunk: Buffer): Promise<void> {
    // A source that sends more than the size it announced is wrong already: stop before hashing or writing it.
    if (this.hasher.bytes + chunk.length > this.size) {
      throw new AppError('DIGEST_MISMATCH', `content of ${this.digest} runs past its ${this.size} bytes`)
    }
    this.hasher.update(chunk)
    if (!this.out.write(chunk)) await once(this.out, 'drain')
  }

  async verify(): Promise<BlobHashes> {
    if (this.verified) return this.verified
    const hashes = this.hasher.finish()
    if (hashes.sha256Hex !== this.digest.hex || hashes.size !== this.size) {
      await this.abort()
      throw new AppError(
        'DIGEST_MISMATCH',
        `content of ${this.digest} hashed to sha256:${hashes.sha256Hex} (${hashes.size} of ${this.size} bytes)`,
      )
    }
    this.verified = hashes
    return hashes
  }

  async commit(): Promise<{ info: BlobInfo; hashes: BlobHashes }> {
    const hashes = await this.verify()
    await this.close()
    const fh = await fs.open(this.tmp, 'r')
    try {
      await fh.sync()
    } finally {
      await fh.close()
    }
    await fs.rename(this.tmp, this.final)
    return { info: { digest: this.digest, size: hashes.size, path: this.final }, hashes }
  }

  async abort(): Promise<void> {
    await this.close()
    await fs.rm(this.tmp, { force: true })
  }

  private async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    await new Promise<void>((resolve, reject) => this.out.end((err?: Error | null) => (err ? reject(err) : resolve())))
  }
}

/** Re-hashes a stored file; undefined when it no longer matches its digest. */
export async function rehashBlob(info: BlobInfo): Promise<BlobHashes | undefined> {
  const hasher = new BlobHasher(info.size)
  for await (const chunk of createReadStream(info.path, { highWaterMark: 1024 * 1024 })) hasher.update(chunk as Buffer)
  const hashes = hasher.finish()
  return hashes.sha256Hex === info.digest.hex ? hashes : undefined
}
