import fs, { type FileHandle } from 'node:fs/promises'
import { readFully } from '../store/blob-file.js'

/** Where a download's verified pieces go: the blob store's partial file (`RandomAccessBlobWriter`). */
export interface PieceTarget {
  readonly size: number
  writeAt(offset: number, buf: Uint8Array): Promise<void>
  readAt(offset: number, length: number): Promise<Buffer>
  /** Called when the torrent closes its store. */
  release(): Promise<void>
}

type Callback<T = void> = (err: Error | null, value?: T) => void

/** Bytes of recent pieces kept in memory for peers that ask for them right after they are announced. */
const CACHE_BYTES = 16 * 1024 * 1024

/**
 * A webtorrent chunk store (abstract-chunk-store) that writes each verified
 * piece straight into the blob's partial file, so a swarm download reaches
 * the disk once and has no scratch copy. `put` answers at once and the write
 * follows: webtorrent announces a piece to every peer when `put` answers, so
 * peers can fetch it while it is being written. Recent pieces, and every
 * piece whose write is still running, are served from memory.
 *
 * A failed write fails every later `get`, so the download stalls and the
 * caller's fallback takes over; the writer reports the error on commit.
 */
export class PieceStore {
  private readonly cache = new Map<number, Uint8Array>()
  private readonly writing = new Set<number>()
  private readonly stored = new Set<number>()
  private cachedBytes = 0
  private error: Error | undefined
  private closed = false

  constructor(
    readonly chunkLength: number,
    private readonly target: PieceTarget,
    /** For a seed: every piece is in the file already. */
    private readonly complete = false,
  ) {}

  put(index: number, buf: Uint8Array, cb: Callback = () => undefined): void {
    if (this.closed) return queueMicrotask(() => cb(new Error('piece store closed')))
    if (this.error) return queueMicrotask(() => cb(this.error!))
    this.remember(index, buf)
    this.writing.add(index)
    this.target.writeAt(index * this.chunkLength, buf).then(
      () => {
        this.writing.delete(index)
        this.stored.add(index)
        this.evict()
      },
      (err: unknown) => {
        this.writing.delete(index)
        this.error ??= err instanceof Error ? err : new Error(String(err))
      },
    )
    queueMicrotask(() => cb(null))
  }

  get(index: number, opts: { offset?: number; length?: number } | null | undefined, cb: Callback<Uint8Array>): void {
    if (this.error) return queueMicrotask(() => cb(this.error!))
    const offset = opts?.offset ?? 0
    const buf = this.cache.get(index)
    if (buf) {
      const length = opts?.length ?? buf.length - offset
      const part = offset === 0 && length === buf.length ? buf : buf.subarray(offset, offset + length)
      return queueMicrotask(() => cb(null, part))
    }
    if (!this.complete && !this.stored.has(index)) return queueMicrotask(() => cb(new Error(`piece ${index} is not here`)))
    const pieceLength = Math.min(this.chunkLength, this.target.size - index * this.chunkLength)
    const length = opts?.length ?? pieceLength - offset
    this.target.readAt(index * this.chunkLength + offset, length).then(
      (b) => cb(null, b),
      (err: unknown) => cb(err instanceof Error ? err : new Error(String(err))),
    )
  }

  close(cb: Callback = () => undefined): void {
    this.closed = true
    this.cache.clear()
    this.target.release().then(() => cb(null), (err: unknown) => cb(err instanceof Error ? err : new Error(String(err))))
  }

  /** The file belongs to the blob store's writer: destroying the torrent's store only closes it. */
  destroy(cb: Callback = () => undefined): void {
    this.close(cb)
  }

  private remember(index: number, buf: Uint8Array): void {
    const old = this.cache.get(index)
    if (old) this.cachedBytes -= old.length
    this.cache.delete(index)
    this.cache.set(index, buf)
    this.cachedBytes += buf.length
    this.evict()
  }

  /** Drops the oldest pieces beyond the budget, except those still being written. */
  private evict(): void {
    for (const [i, b] of this.cache) {
      if (this.cachedBytes <= CACHE_BYTES) return
      if (this.writing.has(i)) continue
      this.cache.delete(i)
      this.cachedBytes -= b.length
    }
  }
}

/** The store option for webtorrent's `client.add`: a constructor bound to one target. */
export function pieceStoreFor(target: PieceTarget): new (chunkLength: number) => PieceStore {
  return class extends PieceStore {
    constructor(chunkLength: number) {
      super(chunkLength, target)
    }
  }
}

/**
 * The store option for seeding a verified file: reads only the bytes a peer
 * asked for, at their offset, with no per-piece read, copy or cache in front
 * (webtorrent's default store reads the whole piece and copies it again).
 */
export function seedStoreFor(file: string, size: number): new (chunkLength: number) => PieceStore {
  return class extends PieceStore {
    constructor(chunkLength: number) {
      super(chunkLength, new ReadOnlyFile(file, size), true)
    }
  }
}

/** A file opened on first read and closed on release; writing to it is an error. */
class ReadOnlyFile implements PieceTarget {
  private fh: Promise<FileHandle> | undefined

  constructor(
    private readonly path: string,
    readonly size: number,
  ) {}

  async writeAt(): Promise<void> {
    throw new Error(`${this.path} is seeded read-only`)
  }

  async readAt(offset: number, length: number): Promise<Buffer> {
    this.fh ??= fs.open(this.path, 'r')
    return readFully(await this.fh, offset, length)
  }

  async release(): Promise<void> {
    const fh = this.fh
    this.fh = undefined
    if (fh) await (await fh).close()
  }
}
