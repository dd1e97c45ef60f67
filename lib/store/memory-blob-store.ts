import { Readable } from 'node:stream'
import { BlobCheck, type BlobHashes } from './blob-hasher.js'
import type { BlobInfo, BlobStore, BlobWriter, DiskSpace, RandomAccessWriter, StoredBlob } from './blob-store.js'
import type { Clock } from '../core/clock.js'
import type { Digest } from '../core/domain.js'
import { storageError } from '../core/errors.js'

interface Held {
  readonly digest: Digest
  readonly data: Buffer
  accessedAt: number
}

/**
 * A BlobStore in memory, for unit tests of the parts above it. Its "disk"
 * holds `capacityBytes`: committed blobs and bytes being written count, and a
 * write past it fails as a full disk would. It has no directories, so it
 * cannot back a swarm.
 */
export class MemoryBlobStore implements BlobStore {
  readonly blobDir = '/nonexistent/memory-blob-store'
  private readonly blobs = new Map<string, Held>()
  /** Bytes held by writers not yet committed or aborted. */
  writing = 0

  constructor(
    private readonly clock: Clock,
    public capacityBytes = Number.MAX_SAFE_INTEGER,
  ) {}

  get usedBytes(): number {
    let n = this.writing
    for (const b of this.blobs.values()) n += b.data.length
    return n
  }

  async stat(digest: Digest): Promise<BlobInfo | undefined> {
    const b = this.blobs.get(digest.hex)
    return b && this.infoOf(b)
  }

  createReadStream(digest: Digest, opts: { start?: number } = {}): Readable {
    const b = this.blobs.get(digest.hex)
    if (!b) return new Readable({ read() { this.destroy(Object.assign(new Error(`${digest} is not stored`), { code: 'ENOENT' })) } })
    return Readable.from([b.data.subarray(opts.start ?? 0)])
  }

  async begin(digest: Digest, size: number, opts: { pieces?: boolean } = {}): Promise<BlobWriter> {
    return new MemoryWriter(this, new BlobCheck(digest, size, opts.pieces ?? true))
  }

  async list(): Promise<StoredBlob[]> {
    return [...this.blobs.values()].map((b) => ({ ...this.infoOf(b), accessedAt: b.accessedAt }))
  }

  async touch(digest: Digest, atMs: number): Promise<void> {
    const b = this.blobs.get(digest.hex)
    if (b) b.accessedAt = atMs
  }

  async remove(digest: Digest): Promise<void> {
    this.blobs.delete(digest.hex)
  }

  async space(): Promise<DiskSpace> {
    return { freeBytes: Math.max(0, this.capacityBytes - this.usedBytes), totalBytes: this.capacityBytes }
  }

  async beginRandomAccess(): Promise<RandomAccessWriter> {
    throw new Error('the in-memory blob store has no files for a swarm to write into')
  }

  /** Puts bytes in as a blob without checking them, as a damaged or foreign file would be. */
  put(digest: Digest, data: Buffer, accessedAt = this.clock.now()): void {
    this.blobs.set(digest.hex, { digest, data, accessedAt })
  }

  publish(digest: Digest, data: Buffer): BlobInfo {
    const held = { digest, data, accessedAt: this.clock.now() }
    this.blobs.set(digest.hex, held)
    return this.infoOf(held)
  }

  private infoOf(b: Held): BlobInfo {
    return { digest: b.digest, size: b.data.length, path: `${this.blobDir}/${b.digest.hex}` }
  }
}

class MemoryWriter implements BlobWriter {
  private chunks: Buffer[] = []
  private held = 0
  private done = false

  constructor(
    private readonly store: MemoryBlobStore,
    private readonly check: BlobCheck,
  ) {}

  get bytes(): number {
    return this.check.bytes
  }

  async write(chunk: Buffer): Promise<void> {
    if (this.store.usedBytes + chunk.length > this.store.capacityBytes) {
      throw storageError(Object.assign(new Error('no space left on device'), { code: 'ENOSPC' }), `writing ${this.check.digest}`)
    }
    this.check.update(chunk)
    this.chunks.push(chunk)
    this.held += chunk.length
    this.store.writing += chunk.length
  }

  verify(): Promise<BlobHashes> {
    return this.check.finishOr(() => this.abort())
  }

  async commit(): Promise<{ info: BlobInfo; hashes: BlobHashes }> {
    const data = Buffer.concat(this.chunks)
    let hashes: BlobHashes
    try {
      hashes = this.check.finish()
    } finally {
      await this.abort()
    }
    return { info: this.store.publish(this.check.digest, data), hashes }
  }

  async abort(): Promise<void> {
    if (this.done) return
    this.done = true
    this.store.writing -= this.held
    this.chunks = []
  }

  async detach(): Promise<BlobCheck> {
    await this.abort()
    return this.check
  }
}
