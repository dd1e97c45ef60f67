// The sidecar's seeder offers each peer a few pieces at a time (super-seeding),
// so that agents fetch most of a blob from each other. Two real webtorrent
// clients on loopback, connected directly: no tracker is involved.
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import fs from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import type { Wire } from 'webtorrent'
import { BlobHasher } from '../lib/store/blob-hasher.js'
import { FileBlobStore } from '../lib/store/blob-store.js'
import { Digest } from '../lib/core/domain.js'
import { Swarm } from '../lib/swarm/swarm.js'
import { buildTorrent } from '../lib/swarm/torrent.js'
import { pieceCount } from '../lib/swarm/webtorrent/torrent-state.js'
import { freePort } from '../demo/ports.js'
import { testLogger } from './helpers/configs.js'

describe('super-seeding', () => {
  let root: string
  const swarms: Swarm[] = []
  after(async () => {
    for (const s of swarms) await s.close().catch(() => undefined)
    await fs.rm(root, { recursive: true, force: true })
  })
  before(async () => {
    root = await fs.mkdtemp(path.join(os.tmpdir(), 'layerseed-superseed-'))
  })

  /** A random blob of `size` bytes, its torrent, and a seeder seeding it. */
  const seeded = async (size: number, dir: string, place?: { zone: string }) => {
    const data = randomBytes(size)
    const digest = Digest.fromHex(createHash('sha256').update(data).digest('hex'))
    const hasher = new BlobHasher(data.length)
    hasher.update(data)
    const torrent = buildTorrent(digest, hasher.finish(), `http://127.0.0.1:${await freePort()}/announce`)
    const seedDir = path.join(root, dir)
    await fs.mkdir(seedDir)
    await fs.writeFile(path.join(seedDir, digest.hex), data)
    const seeder = new Swarm({ peerPort: 0, role: 'seeder', advertiseHost: '127.0.0.1', logger: testLogger('seeder'), place })
    swarms.push(seeder)
    const seederPort = await seeder.listening()
    await seeder.seed(torrent.torrent, seedDir)
    return { data, digest, torrent, seederPort }
  }

  it('offers a new peer nothing, then 4 pieces it lacks, more as it takes them, until it has the whole blob', async () => {
    const { data, digest, torrent, seederPort } = await seeded(3 << 20, 'seed')
    const agent = new Swarm({ peerPort: 0, role: 'agent', advertiseHost: '127.0.0.1', logger: testLogger('agent') })
    swarms.push(agent)
    await agent.listening()

    const dlStore = new FileBlobStore(path.join(root, 'dl'))
    await dlStore.init()
    const writer = await dlStore.beginRandomAccess(digest, data.length)
    const dl = await agent.download(torrent.torrent, writer)
    const pieces = pieceCount(dl.torrent)
    assert.ok(pieces >= 8, `the blob spans ${pieces} pieces`)
    const offered = new Set<number>()
    let firstBitfieldBits = -1
    let offeredBeforeData = 0
    dl.torrent.on('wire', (wire: Wire) => {
      wire.on('bitfield', () => {
        let n = 0
        for (let i = 0; i < pieces; i++) if (wire.peerPieces?.get(i)) n++
        if (firstBitfieldBits < 0) firstBitfieldBits = n
      })
      wire.on('have-all', () => {
        firstBitfieldBits = pieces
      })
      wire.on('have', (i: number) => {
        offered.add(i)
        if (dl.received.seeder === 0) offeredBeforeData++
      })
    })
    dl.torrent.addPeer(`127.0.0.1:${seederPort}`)

    const chunks: Buffer[] = []
    for await (const c of dl.stream()) chunks.push(c as Buffer)
    const got = Buffer.concat(chunks)
    assert.equal(createHash('sha256').update(got).digest('hex'), digest.hex)
    assert.equal(firstBitfieldBits, 0, 'the seeder announced no pieces up front')
    // Later offers follow the rate the seeder sends at, which on loopback soon covers this small blob.
    assert.equal(offeredBeforeData, 4, 'before any data flowed, 4 pieces were offered')
    assert.equal(offered.size, pieces, 'with no other peer, every piece was offered in the end')
  })

  it('sends each piece out about once when agents can trade, and no process peers with itself', async () => {
    const { data, digest, torrent, seederPort } = await seeded(6 << 20, 'seed2')

    const agents = await Promise.all(['a', 'b', 'c'].map(async (name) => {
      // webtorrent itself only refuses 127.0.0.1 at its own port: advertise another loopback address.
      const swarm = new Swarm({ peerPort: 0, role: 'agent', advertiseHost: '127.0.0.2', logger: testLogger(name) })
      swarms.push(swarm)
      const port = await swarm.listening()
      const store = new FileBlobStore(path.join(root, `trade-${name}`))
      await store.init()
      const dl = await swarm.download(torrent.torrent, await store.beginRandomAccess(digest, data.length))
      return { port, dl }
    }))
    const selfWires: string[] = []
    for (const a of agents) {
      a.dl.torrent.on('wire', (w: Wire) => {
        if (w.remotePort === a.port) selfWires.push(w.peerId)
      })
      a.dl.torrent.addPeer(`127.0.0.1:${seederPort}`)
      // Its own address too, as a tracker would hand it back: it must not connect.
      for (const b of agents) a.dl.torrent.addPeer(`127.0.0.2:${b.port}`)
    }
    await Promise.all(agents.map(async (a) => {
      const h = createHash('sha256')
      for await (const c of a.dl.stream()) h.update(c as Buffer)
      assert.equal(h.digest('hex'), digest.hex)
    }))
    const fromSeeder = agents.reduce((n, a) => n + a.dl.received.seeder, 0)
    const fromPeers = agents.reduce((n, a) => n + a.dl.received.peers, 0)
    assert.ok(fromSeeder <= data.length * 1.1, `the seeder sent ${(fromSeeder / data.length).toFixed(2)}x the blob`)
    assert.ok(fromPeers >= data.length, `agents traded ${(fromPeers / data.length).toFixed(2)}x the blob among themselves`)
    assert.deepEqual(selfWires, [], 'no agent connected to itself')
  })

  it('with zones, offers every piece in each zone and the blob crosses into the other zone about once', async () => {
    const { data, digest, torrent, seederPort } = await seeded(6 << 20, 'seed3', { zone: 'a' })
    const agents = await Promise.all((['a', 'a', 'b', 'b'] as const).map(async (zone, k) => {
      const swarm = new Swarm({ peerPort: 0, role: 'agent', advertiseHost: '127.0.0.2', logger: testLogger(`${zone}${k}`), place: { zone } })
      swarms.push(swarm)
      const port = await swarm.listening()
      const store = new FileBlobStore(path.join(root, `zone-${zone}${k}`))
      await store.init()
      const dl = await swarm.download(torrent.torrent, await store.beginRandomAccess(digest, data.length))
      const offered = new Set<number>()
      dl.torrent.on('wire', (w: Wire) => {
        if (w.remotePort === seederPort) w.on('have', (i: number) => offered.add(i))
      })
      return { zone, port, dl, offered }
    }))
    for (const a of agents) {
      a.dl.torrent.addPeer(`127.0.0.1:${seederPort}`)
      for (const b of agents) if (b !== a) a.dl.torrent.addPeer(`127.0.0.2:${b.port}`)
    }
    await Promise.all(agents.map(async (a) => {
      const h = createHash('sha256')
      for await (const c of a.dl.stream()) h.update(c as Buffer)
      assert.equal(h.digest('hex'), digest.hex)
    }))
    const pieces = pieceCount(agents[0].dl.torrent)
    for (const zone of ['a', 'b']) {
      const inZone = agents.filter((a) => a.zone === zone)
      assert.equal(new Set(inZone.flatMap((a) => [...a.offered])).size, pieces, `every piece was offered in zone ${zone}`)
    }
    const intoB = agents.filter((a) => a.zone === 'b').reduce((n, a) => n + a.dl.received.seeder + a.dl.received.peers - a.dl.received.sameZone, 0)
    assert.ok(intoB <= data.length * 1.2, `zone b took ${(intoB / data.length).toFixed(2)}x the blob from zone a`)
  })
})

