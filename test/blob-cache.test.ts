import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import fs from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { BlobCache, type CacheHooks, type CacheLimits } from '../lib/cache/blob-cache.js'
import { FileBlobStore } from '../lib/store/blob-store.js'
import { bytesToFree, refusal } from '../lib/cache/policy.js'
import type { Clock } from '../lib/core/clock.js'
import { Digest } from '../lib/core/domain.js'
import { silentLogger } from '../lib/core/logger.js'
import { MemoryBlobStore } from '../lib/store/memory-blob-store.js'

const KB = 1000
const digestOf = (b: Buffer) => Digest.fromHex(createHash('sha256').update(b).digest('hex'))

/** A clock the test moves by hand: access times order evictions. */
function manualClock(start = Date.parse('2030-01-01T00:00:00Z')): Clock & { advance(ms: number): void } {
  let t = start
  return { now: () => t, sleep: async () => undefined, advance: (ms) => void (t += ms) }
}

async function put(cache: BlobCache, data: Buffer): Promise<Digest> {
  const d = digestOf(data)
  const w = await cache.begin(d, data.length)
  await w.write(data)
  await w.commit()
  return d
}

async function readAll(cache: BlobCache, d: Digest): Promise<Buffer> {
  const parts: Buffer[] = []
  for await (const c of cache.createReadStream(d)) parts.push(c as Buffer)
  return Buffer.concat(parts)
}

/** `hooks` may be filled in later: the cache reads them when it acts. */
function memoryCache(limits: CacheLimits, capacity?: number) {
  const clock = manualClock()
  const store = new MemoryBlobStore(clock, capacity)
  const hooks: CacheHooks = {}
  const cache = new BlobCache({ store, clock, logger: silentLogger(), limits, hooks })
  return { clock, store, cache, hooks }
}

const bounded: CacheLimits = { maxBytes: 100 * KB, highBytes: 85 * KB, lowBytes: 70 * KB, minFreeBytes: 0 }

describe('cache policy', () => {
  const u = (usedBytes: number, freeBytes = 1e12, reservedBytes = 0, pendingBytes = 0) => ({ usedBytes, reservedBytes, pendingBytes, freeBytes })

  it('frees nothing under the high watermark, and down to the low one above it', () => {
    assert.equal(bytesToFree(bounded, u(85 * KB)), 0)
    assert.equal(bytesToFree(bounded, u(90 * KB)), 20 * KB)
  })

  it('counts a pending write: one that would pass the max frees down to the low watermark', () => {
    assert.equal(bytesToFree(bounded, u(60 * KB), 10 * KB), 0)
    assert.equal(bytesToFree(bounded, u(80 * KB), 30 * KB), 40 * KB)
  })

  it('keeps the free-disk floor, with or without a max', () => {
    const floor = { minFreeBytes: 50 * KB }
    assert.equal(bytesToFree(floor, u(500 * KB, 40 * KB)), 10 * KB)
    assert.equal(bytesToFree(floor, u(500 * KB, 60 * KB), 20 * KB), 10 * KB)
    // With a max, a breach goes down to the low watermark too.
    assert.equal(bytesToFree({ ...bounded, minFreeBytes: 50 * KB }, u(80 * KB, 49 * KB)), 10 * KB)
  })

  it('refuses what cannot fit, and says why', () => {
    assert.match(refusal(bounded, u(90 * KB), 20 * KB) ?? '', /--cache-max-bytes/)
    assert.match(refusal({ minFreeBytes: 10 * KB }, u(0, 15 * KB), 10 * KB) ?? '', /--min-free-disk/)
    assert.equal(refusal(bounded, u(50 * KB), 20 * KB), undefined)
  })
})

describe('blob cache', () => {
  it('evicts the least recently used unpinned blobs down to the low watermark', async () => {
    const { clock, cache, store, hooks } = memoryCache(bounded)
    const ds: Digest[] = []
    for (let i = 0; i < 9; i++) {
      ds.push(await put(cache, randomBytes(10 * KB)))
      clock.advance(1000)
    }
    // The oldest is read again, so it is now the most recently used.
    assert.equal((await readAll(cache, ds[0])).length, 10 * KB)
    clock.advance(1000)
    // The second oldest is held, as a slow client's read holds it.
    const held = await cache.acquire(ds[1])
    assert.ok(held)
    const evicted: string[] = []
    hooks.evicted = async (d) => void evicted.push(d.hex)

    const report = await cache.reap('test')
    assert.deepEqual(evicted, [ds[2].hex, ds[3].hex], 'the oldest unpinned blobs went first')
    assert.deepEqual(report, { at: new Date(clock.now()).toISOString(), evicted: 2, freedBytes: 20 * KB })
    const status = await cache.status()
    assert.equal(status.usedBytes, 70 * KB)
    assert.equal(status.blobs, 7)
    assert.equal(status.pinned, 1)
    assert.deepEqual(status.lastReap, report)
    assert.equal(await store.stat(ds[2]), undefined, 'the file is gone too')
    assert.ok(cache.has(ds[0]) && cache.has(ds[1]))
    held.release()
    held.release()
    assert.equal((await cache.status()).pinned, 0, 'a release counts once')
  })

  it('does not evict a blob that peers are taking from this host', async () => {
    const { clock, cache, hooks } = memoryCache(bounded)
    const ds: Digest[] = []
    for (let i = 0; i < 9; i++) {
      ds.push(await put(cache, randomBytes(10 * KB)))
      clock.advance(1000)
    }
    hooks.busy = (d) => d.hex === ds[0].hex
    await cache.reap('test')
    assert.ok(cache.has(ds[0]))
    assert.ok(!cache.has(ds[1]) && !cache.has(ds[2]))
  })

  it('reaps at once when a write would pass the max, and refuses what cannot fit', async () => {
    const { clock, cache } = memoryCache(bounded)
    const ds: Digest[] = []
    for (let i = 0; i < 8; i++) {
      ds.push(await put(cache, randomBytes(10 * KB)))
      clock.advance(1000)
    }
    await put(cache, randomBytes(30 * KB))
    // 80 + 30 passes 100: down to 70 with the new blob, so the four oldest went.
    assert.equal((await cache.status()).usedBytes, 70 * KB)
    assert.deepEqual(ds.map((d) => cache.has(d)), [false, false, false, false, true, true, true, true])

    await assert.rejects(cache.begin(digestOf(randomBytes(10)), 101 * KB), { code: 'INSUFFICIENT_STORAGE', message: /--cache-max-bytes/ })
    assert.equal((await cache.status()).usedBytes, 70 * KB, 'a blob larger than the max evicts nothing')
    const pins = (await cache.list()).map((b) => cache.pin(b.digest))
    const big = randomBytes(50 * KB)
    await assert.rejects(cache.begin(digestOf(big), big.length), { code: 'INSUFFICIENT_STORAGE' })
    for (const release of pins) release()
    await put(cache, big)
  })

  it('counts writes in progress, so two cannot both take the last room', async () => {
    const { cache } = memoryCache({ maxBytes: 100 * KB, minFreeBytes: 0 })
    const a = randomBytes(60 * KB)
    const w = await cache.begin(digestOf(a), a.length)
    cache.pin(digestOf(a))
    await assert.rejects(cache.begin(digestOf(randomBytes(1)), 60 * KB), { code: 'INSUFFICIENT_STORAGE' })
    await w.abort()
    assert.equal((await cache.status()).reservedBytes, 0)
  })

  it('keeps the free-disk floor: evicts, then refuses', async () => {
    const { clock, cache } = memoryCache({ minFreeBytes: 20 * KB }, 100 * KB)
    const ds: Digest[] = []
    for (let i = 0; i < 7; i++) {
      ds.push(await put(cache, randomBytes(10 * KB)))
      clock.advance(1000)
    }
    // 70 stored, 30 free: another 20 KB would leave 10, under the floor of 20.
    await put(cache, randomBytes(20 * KB))
    assert.equal(cache.has(ds[0]), false)
    assert.equal(cache.has(ds[1]), true)
    const all = (await cache.list()).map((b) => cache.pin(b.digest))
    await assert.rejects(cache.begin(digestOf(randomBytes(1)), 15 * KB), { code: 'INSUFFICIENT_STORAGE', message: /--min-free-disk/ })
    for (const r of all) r()
  })

  it('new bounds take effect at the next reap', async () => {
    const { cache } = memoryCache({ minFreeBytes: 0 })
    for (let i = 0; i < 5; i++) await put(cache, randomBytes(10 * KB))
    assert.equal((await cache.reap('test')).evicted, 0)
    cache.setLimits({ maxBytes: 40 * KB, highBytes: 30 * KB, lowBytes: 20 * KB, minFreeBytes: 0 })
    assert.equal((await cache.reap('test')).evicted, 3)
  })

  it('a blob being evicted is gone before the same digest is written again', async () => {
    const { cache, store, hooks } = memoryCache(bounded)
    const data = randomBytes(10 * KB)
    const d = await put(cache, data)
    let letGo = () => undefined as void
    hooks.evicted = () => new Promise<void>((resolve) => (letGo = resolve))
    const removing = cache.remove(d)
    const again = cache.begin(d, data.length)
    letGo()
    const w = await again
    await removing
    await w.write(data)
    await w.commit()
    assert.ok(cache.has(d))
    assert.deepEqual(await readAll(cache, d), data)
    assert.ok(await store.stat(d))
  })

  it('verifies blobs found at start once each, and drops one that does not match its digest', async () => {
    const clock = manualClock()
    const store = new MemoryBlobStore(clock)
    const good = [randomBytes(3000), randomBytes(4000), randomBytes(5000)]
    for (const g of good) store.put(digestOf(g), g)
    const bad = digestOf(randomBytes(2000))
    store.put(bad, randomBytes(2000))
    const seen: string[] = []
    const verified: CacheHooks['verified'] = async (info, hashes) => void seen.push(`${info.digest.hex}:${hashes.sha256Hex === info.digest.hex}`)
    const cache = new BlobCache({ store, clock, logger: silentLogger(), limits: bounded, hooks: { verified } })
    assert.equal(await cache.load(), 4)
    assert.equal((await cache.status()).unverified, 4)
    assert.deepEqual(await cache.list(), [], 'nothing is listed before it verified')
    // A request while verification runs joins it (or starts it first) rather than hashing again.
    const [viaRequest, n] = await Promise.all([cache.stat(digestOf(good[1])), cache.verifyAll(2)])
    assert.ok(viaRequest)
    assert.ok(n >= 2)
    assert.equal(await cache.stat(bad), undefined)
    assert.equal(await store.stat(bad), undefined, 'the damaged blob was removed')
    assert.deepEqual(seen.sort(), good.map((g) => `${digestOf(g).hex}:true`).sort())
    const status = await cache.status()
    assert.equal(status.unverified, 0)
    assert.equal(status.blobs, 3)
    assert.equal(status.usedBytes, 12_000)
  })

  it('verifies without storing when the disk cannot hold a blob, refused up front or full midway', async () => {
    const { cache, store } = memoryCache({ minFreeBytes: 0 }, 50 * KB)
    const big = randomBytes(60 * KB)
    const w1 = await cache.beginOrVerifyOnly(digestOf(big), big.length)
    assert.equal(w1.caching, false)
    await w1.write(big)
    const r1 = await w1.commit()
    assert.equal(r1.info, undefined)
    assert.equal(r1.hashes.sha256Hex, digestOf(big).hex)

    const wrong = await cache.beginOrVerifyOnly(digestOf(big), big.length)
    await wrong.write(randomBytes(big.length))
    await assert.rejects(wrong.commit(), { code: 'DIGEST_MISMATCH' })

    const blob = randomBytes(40 * KB)
    const w2 = await cache.beginOrVerifyOnly(digestOf(blob), blob.length)
    assert.equal(w2.caching, true)
    await w2.write(blob.subarray(0, 20 * KB))
    // Something else fills the disk meanwhile.
    store.put(digestOf(Buffer.from('filler')), Buffer.alloc(25 * KB))
    await w2.write(blob.subarray(20 * KB))
    assert.equal(w2.caching, false)
    const r2 = await w2.commit()
    assert.equal(r2.info, undefined)
    assert.equal(r2.hashes.sha256Hex, digestOf(blob).hex)
    assert.equal(store.writing, 0, 'nothing half-written is held')
    assert.equal(await store.stat(digestOf(blob)), undefined)
    assert.equal((await cache.status()).reservedBytes, 0)
  })

  describe('on disk', () => {
    let root: string
    before(async () => {
      root = await fs.mkdtemp(path.join(os.tmpdir(), 'layerseed-cache-'))
    })
    after(() => fs.rm(root, { recursive: true, force: true }))

    it('keeps last-access times across restarts, in the files\' atime', async () => {
      const clock = manualClock()
      const open = async () => {
        const store = new FileBlobStore(root)
        await store.init()
        const cache = new BlobCache({ store, clock, logger: silentLogger(), limits: { maxBytes: 50 * KB, highBytes: 40 * KB, lowBytes: 20 * KB, minFreeBytes: 0 } })
        await cache.load()
        await cache.verifyAll(2)
        return cache
      }
      const first = await open()
      const ds: Digest[] = []
      for (let i = 0; i < 4; i++) {
        ds.push(await put(first, randomBytes(10 * KB)))
        clock.advance(120_000)
      }
      await readAll(first, ds[0])
      // The access is written at most once a minute; wait for that write to land.
      const hex = ds[0].hex
      const atime = async () => (await fs.stat(path.join(root, 'blobs', 'sha256', hex))).atimeMs
      for (let i = 0; i < 50 && (await atime()) !== clock.now(); i++) await new Promise((r) => setTimeout(r, 20))
      assert.equal(await atime(), clock.now())

      const second = await open()
      const order = (await second.list()).sort((a, b) => a.accessedAt - b.accessedAt).map((b) => b.digest.hex)
      assert.deepEqual(order, [ds[1], ds[2], ds[3], ds[0]].map((d) => d.hex))
      await put(second, randomBytes(10 * KB))
      await second.reap('test')
      // 50 KB passed 40: down to 20, so the three oldest by access went and the re-read one stayed.
      assert.deepEqual(ds.map((d) => second.has(d)), [true, false, false, false])
    })
  })
})
