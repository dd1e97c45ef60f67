import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import fs from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { FileBlobStore } from '../lib/store/blob-store.js'
import { Digest } from '../lib/core/domain.js'
import { safeJoin } from '../lib/core/safe-path.js'

const digestOf = (b: Buffer) => Digest.fromHex(createHash('sha256').update(b).digest('hex'))

describe('file blob store', () => {
  let root: string
  let store: FileBlobStore

  before(async () => {
    root = await fs.mkdtemp(path.join(os.tmpdir(), 'layerseed-store-'))
    store = new FileBlobStore(root)
    await store.init()
  })
  after(() => fs.rm(root, { recursive: true, force: true }))

  const tmpFiles = async () => (await fs.readdir(path.join(root, 'tmp'))).length

  it('publishes a verified blob only on commit', async () => {
    const data = randomBytes(300_000)
    const d = digestOf(data)
    const w = await store.begin(d, data.length)
    await w.write(data.subarray(0, 1000))
    assert.equal(await store.stat(d), undefined, 'not visible while written')
    await w.write(data.subarray(1000))
    const { info } = await w.commit()
    assert.equal(info.size, data.length)
    assert.deepEqual(await fs.readFile(info.path), data)
    assert.equal(await tmpFiles(), 0)
  })

  it('drops content whose sha256 does not match, leaving nothing behind', async () => {
    const data = randomBytes(5000)
    const d = digestOf(randomBytes(5000))
    const w = await store.begin(d, data.length)
    await w.write(data)
    await assert.rejects(w.commit(), { code: 'DIGEST_MISMATCH' })
    assert.equal(await store.stat(d), undefined)
    assert.equal(await tmpFiles(), 0)
  })

  it('refuses bytes past the announced size before writing them', async () => {
    const data = randomBytes(4096)
    const d = digestOf(data)
    const w = await store.begin(d, data.length - 1)
    await assert.rejects(w.write(data), { code: 'DIGEST_MISMATCH' })
    await w.abort()
    assert.equal(await store.stat(d), undefined)
    assert.equal(await tmpFiles(), 0)
  })

  it('lists only digest-named files and clears tmp/ on init', async () => {
    await fs.writeFile(path.join(root, 'blobs', 'sha256', 'not-a-digest'), 'x')
    await fs.writeFile(path.join(root, 'tmp', 'left.part'), 'x')
    await store.init()
    assert.equal(await tmpFiles(), 0)
    const names = (await store.list()).map((i) => i.digest.hex)
    assert.ok(names.every((n) => /^[a-f0-9]{64}$/.test(n)))
    assert.equal(names.length, 1)
  })

  it('random access: pieces land out of order, are hashed in order, reach the disk once and stay readable after commit', async () => {
    const piece = 64 * 1024
    const data = randomBytes(piece * 4 + 1000)
    const d = digestOf(data)
    const w = await store.beginRandomAccess(d, data.length)
    const at = (i: number) => data.subarray(i * piece, Math.min(data.length, (i + 1) * piece))
    for (const i of [3, 1, 4, 0]) await w.writeAt(i * piece, at(i))
    assert.deepEqual(await w.readAt(piece, piece), at(1))
    // Pieces 0, 1, 3 and 4 are placed already; only piece 2 goes to disk through `write`.
    const offsets: number[] = []
    const writeAt = w.writeAt.bind(w)
    w.writeAt = (offset, buf) => {
      offsets.push(offset)
      return writeAt(offset, buf)
    }
    for (let i = 0; i <= 4; i++) await w.write(at(i))
    assert.deepEqual(offsets, [2 * piece])
    const { info } = await w.commit()
    assert.deepEqual(await fs.readFile(info.path), data)
    assert.deepEqual(await w.readAt(0, 10), data.subarray(0, 10), 'the seeding swarm still reads the committed file')
    await w.release()
    await assert.rejects(w.readAt(0, 10), /after release/)
    assert.equal(await tmpFiles(), 0)
  })

  it('random access: refuses bytes outside the blob and drops content whose sha256 does not match', async () => {
    const data = randomBytes(10_000)
    const w = await store.beginRandomAccess(digestOf(randomBytes(10_000)), data.length)
    await assert.rejects(w.writeAt(9_000, data.subarray(0, 2000)), { code: 'DIGEST_MISMATCH' })
    await w.write(data)
    await assert.rejects(w.write(Buffer.alloc(1)), { code: 'DIGEST_MISMATCH' })
    await assert.rejects(w.commit(), { code: 'DIGEST_MISMATCH' })
    assert.equal(await tmpFiles(), 0)
  })

  it('never joins a path outside its root', () => {
    assert.throws(() => safeJoin(root, '..', 'etc'), /escapes/)
    assert.throws(() => safeJoin(root, '/etc/passwd'), /escapes/)
    assert.equal(safeJoin(root, 'a', 'b'), path.join(root, 'a', 'b'))
  })
})
