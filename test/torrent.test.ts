import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import { BlobHasher, pieceLengthFor } from '../lib/store/blob-hasher.js'
import { Digest } from '../lib/core/domain.js'
import { buildTorrent, parseTorrent } from '../lib/swarm/torrent.js'

function torrentOf(data: Buffer, announce: string, chunk: number) {
  const h = new BlobHasher(data.length)
  for (let o = 0; o < data.length; o += chunk) h.update(data.subarray(o, o + chunk))
  const digest = Digest.fromHex(createHash('sha256').update(data).digest('hex'))
  return buildTorrent(digest, h.finish(), announce)
}

describe('torrents', () => {
  it('are the same for a blob wherever they are built, however it was chunked', () => {
    const data = randomBytes(3 * 262_144 + 17)
    const a = torrentOf(data, 'http://sidecar-a:7070/announce', 65_536)
    const b = torrentOf(data, 'http://sidecar-b:7070/announce', 1_000_003)
    assert.equal(a.infoHash.hex, b.infoHash.hex)
    assert.deepEqual(a.torrent, torrentOf(data, 'http://sidecar-a:7070/announce', 7).torrent)
    const other = torrentOf(randomBytes(data.length), 'http://sidecar-a:7070/announce', 65_536)
    assert.notEqual(other.infoHash.hex, a.infoHash.hex)
  })

  it('name the digest, are private, and announce to the given tracker', () => {
    const data = randomBytes(1000)
    const t = torrentOf(data, 'http://s:7070/announce', 100)
    const p = parseTorrent(t.torrent)
    assert.equal(p.name, t.digest.hex)
    assert.equal(p.size, 1000)
    assert.equal(p.announce, 'http://s:7070/announce')
    assert.equal(p.infoHash.hex, t.infoHash.hex)
    assert.ok(t.torrent.includes(Buffer.from('7:privatei1e')))
    assert.ok(!t.torrent.includes(Buffer.from('creation date')))
  })

  it('use a fixed piece-length rule from 256 KiB to 4 MiB', () => {
    assert.equal(pieceLengthFor(0), 262_144)
    assert.equal(pieceLengthFor(100 << 20), 262_144)
    assert.equal(pieceLengthFor(1 << 30), 1 << 20)
    assert.equal(pieceLengthFor(50 * 2 ** 30), 4 << 20)
  })

  it('hash each piece with SHA-1', () => {
    const data = randomBytes(262_144 + 5)
    const h = new BlobHasher(data.length)
    h.update(data)
    const r = h.finish()
    assert.equal(r.pieces.length, 40)
    assert.deepEqual(r.pieces.subarray(0, 20), createHash('sha1').update(data.subarray(0, 262_144)).digest())
    assert.deepEqual(r.pieces.subarray(20), createHash('sha1').update(data.subarray(262_144)).digest())
  })
})
