// Bans and the trust rules, piece by piece: the process-wide ban list and the
// tracker's delisting on a hand-moved clock, the super-seeder's distrust of
// claims nobody could have made honestly, and a real download that meets
// only a liar.
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { EventEmitter } from 'node:events'
import { createHash, randomBytes } from 'node:crypto'
import fs from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import type { Torrent } from 'webtorrent'
import { BanList } from '../lib/swarm/peer-bans.js'
import { reportedIds, TrackerBans } from '../lib/swarm/tracker-bans.js'
import { superSeed } from '../lib/swarm/super-seed.js'
import { Swarm } from '../lib/swarm/swarm.js'
import { buildTorrent } from '../lib/swarm/torrent.js'
import { BlobHasher } from '../lib/store/blob-hasher.js'
import { FileBlobStore } from '../lib/store/blob-store.js'
import { Digest } from '../lib/core/domain.js'
import { freePort } from '../demo/ports.js'
import { capturingLogger } from './helpers/configs.js'
import { fakeClock } from './helpers/fake-clock.js'
import { startLiar } from './helpers/liar.js'

const ID_A = 'a'.repeat(40)
const ID_B = 'b'.repeat(40)
const ID_C = 'c'.repeat(40)

describe('the ban list', () => {
  it('refuses a peer by address and by peer id until the ban expires', () => {
    const clock = fakeClock()
    const bans = new BanList(clock, 10 * 60_000)
    bans.ban({ addr: '10.0.0.1:6881', peerId: ID_A })
    assert.equal(bans.isBanned({ addr: '10.0.0.1:6881' }), true)
    assert.equal(bans.isBanned({ peerId: ID_A }), true)
    assert.equal(bans.isBanned({ addr: '10.0.0.1:6882', peerId: ID_B }), false)
    clock.advance(10 * 60_000 - 1)
    assert.equal(bans.isBanned({ peerId: ID_A }), true)
    clock.advance(1)
    assert.equal(bans.isBanned({ peerId: ID_A }), false)
    assert.equal(bans.isBanned({ addr: '10.0.0.1:6881' }), false)
    assert.equal(bans.total, 1)
  })

  it('holds a bounded number of bans, dropping the oldest', () => {
    const bans = new BanList(fakeClock(), 60_000, 4)
    for (let i = 0; i < 4; i++) bans.ban({ addr: `10.0.0.${i}:1` })
    assert.equal(bans.isBanned({ addr: '10.0.0.0:1' }), true)
    bans.ban({ addr: '10.0.0.9:1' })
    bans.ban({ addr: '10.0.0.8:1' })
    assert.equal(bans.isBanned({ addr: '10.0.0.1:1' }), false)
    assert.equal(bans.isBanned({ addr: '10.0.0.9:1' }), true)
  })
})

describe('the tracker delisting', () => {
  it('delists a peer once two distinct peers reported it, for a while', () => {
    const clock = fakeClock()
    const bans = new TrackerBans(clock, 2, 60_000)
    const ih = 'f'.repeat(40)
    assert.equal(bans.report(ih, ID_A, ID_B), false)
    assert.equal(bans.report(ih, ID_A, ID_B), false, 'the same reporter twice is one report')
    assert.equal(bans.report(ih, ID_A, ID_A), false, 'nobody reports itself')
    assert.equal(bans.delisted(ih, { peerId: ID_A }), false)
    assert.equal(bans.report(ih, ID_A, ID_C), true)
    assert.equal(bans.delisted(ih, { peerId: ID_A }), true)
    assert.equal(bans.delisted('e'.repeat(40), { peerId: ID_A }), false, 'only for that torrent')
    clock.advance(60_000)
    assert.equal(bans.delisted(ih, { peerId: ID_A }), false)
  })

  it('reads only 40-hex peer ids from banned=', () => {
    assert.deepEqual(reportedIds([ID_A.toUpperCase(), 'xyz', `${ID_B}00`, 7]), [ID_A])
    assert.deepEqual(reportedIds(ID_C), [ID_C])
    assert.deepEqual(reportedIds(undefined), [])
  })
})

/** A stand-in for a wire as the super-seeder sees it: its events, its claims, what it is offered. */
class FakeWire extends EventEmitter {
  destroyed = false
  readonly offered: number[] = []
  readonly claims = new Set<number>()
  readonly peerPieces = { get: (i: number) => this.claims.has(i) }
  peerId = randomBytes(20).toString('hex')
  uploadSpeed = () => 0
  have = (i: number) => void this.offered.push(i)
  bitfield = () => undefined
  haveAll = () => undefined
}

describe('the super-seeder’s trust', () => {
  const PIECES = 32
  const seededTorrent = () => Object.assign(new EventEmitter(), { pieces: new Array<null>(PIECES).fill(null), pieceLength: 256 * 1024 }) as unknown as Torrent

  it('does not believe a have-all from a peer it never sent a piece to, and offers an honest peer every piece', () => {
    const t = seededTorrent()
    superSeed(t)
    const liar = new FakeWire()
    t.emit('wire', liar)
    for (let i = 0; i < PIECES; i++) liar.claims.add(i)
    liar.emit('have-all')
    const honest = new FakeWire()
    t.emit('wire', honest)
    honest.emit('interested')
    // The honest peer takes each piece it is offered, and says so.
    for (let k = 0; k < honest.offered.length && k < 10 * PIECES; k++) {
      const i = honest.offered[k]
      honest.emit('request', i, 0, 16384)
      honest.claims.add(i)
      honest.emit('have', i)
    }
    assert.equal(new Set(honest.offered).size, PIECES, 'every piece was offered to the honest peer')
    assert.deepEqual(liar.offered, [])
    t.emit('close')
  })

  it('believes a have for a piece that left the seeder, so it is not offered again', () => {
    const t = seededTorrent()
    superSeed(t)
    const a = new FakeWire()
    const b = new FakeWire()
    t.emit('wire', a)
    a.emit('interested')
    const first = a.offered[0]
    a.emit('request', first, 0, 16384)
    // b got it from a, not from the seeder: believed, since the piece is out there.
    t.emit('wire', b)
    b.claims.add(first)
    b.emit('have', first)
    a.emit('close')
    b.emit('interested')
    assert.ok(!b.offered.includes(first), 'a piece b holds is not offered to it')
    const c = new FakeWire()
    t.emit('wire', c)
    c.emit('interested')
    assert.ok(!c.offered.includes(first), 'nor to anyone else while b holds it')
    t.emit('close')
  })
})

describe('a download that meets only a liar', () => {
  let root: string
  const closers: Array<() => Promise<unknown>> = []
  before(async () => {
    root = await fs.mkdtemp(path.join(os.tmpdir(), 'layerseed-liar-unit-'))
  })
  after(async () => {
    for (const c of closers.reverse()) await c().catch(() => undefined)
    await fs.rm(root, { recursive: true, force: true })
  })

  it('bans it after two bad pieces, counts none of its bytes as progress, and gives up on the empty swarm within about a second', async () => {
    const data = randomBytes(4 << 20)
    const digest = Digest.fromHex(createHash('sha256').update(data).digest('hex'))
    const hasher = new BlobHasher(data.length)
    hasher.update(data)
    const torrent = buildTorrent(digest, hasher.finish(), `http://127.0.0.1:${await freePort()}/announce`)
    const log = capturingLogger('warn')
    const swarm = new Swarm({ peerPort: 0, role: 'agent', advertiseHost: '127.0.0.1', logger: log.logger })
    closers.push(() => swarm.close())
    await swarm.listening()
    const store = new FileBlobStore(root)
    await store.init()
    const dl = await swarm.download(torrent.torrent, await store.beginRandomAccess(digest, data.length))
    const liar = await startLiar({ infoHash: torrent.infoHash.hex, pieces: Math.ceil(data.length / dl.torrent.pieceLength), announceUrl: 'http://127.0.0.1:1/announce' })
    closers.push(() => liar.close())
    const started = performance.now()
    dl.torrent.addPeer(`127.0.0.1:${liar.port}`)
    const consumed = (async () => {
      for await (const c of dl.stream()) void c
    })()
    await assert.rejects(consumed, /every peer of the swarm left/)
    const took = performance.now() - started
    assert.ok(took < 5_000, `gave up after ${Math.round(took)} ms`)
    assert.equal(swarm.bannedPeers, 1)
    assert.equal(swarm.connectedPeers, 0)
    assert.ok(liar.sent.bytes >= 2 * dl.torrent.pieceLength, `the liar sent ${liar.sent.bytes} bytes`)
    assert.equal(dl.lastActivity(), 0, 'garbage is no progress')
    const lines = log.lines.filter((l) => l.includes('peer banned'))
    assert.equal(lines.length, 1, 'logged once')
    assert.match(lines[0], new RegExp(`"peerId":"${liar.peerIdHex}"`))
    assert.match(lines[0], new RegExp(`"peer":"127.0.0.1:${liar.port}"`))
    assert.match(lines[0], /"level":40|"level":"warn"/)
    // Its reconnection is refused.
    dl.torrent.addPeer(`127.0.0.1:${liar.port}`)
    await new Promise((r) => setTimeout(r, 300))
    assert.equal(swarm.connectedPeers, 0)
  })
})
