// Two nodes that each got the other from the tracker dial each other; they
// keep one connection between them, the same one at both ends, and the blob
// still moves. Real webtorrent clients on loopback, connected directly.
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
import { openWires } from '../lib/swarm/webtorrent/torrent-state.js'
import { freePort } from '../demo/ports.js'
import { testLogger } from './helpers/configs.js'

describe('peering', () => {
  let root: string
  const swarms: Swarm[] = []
  before(async () => {
    root = await fs.mkdtemp(path.join(os.tmpdir(), 'layerseed-peering-'))
  })
  after(async () => {
    for (const s of swarms) await s.close().catch(() => undefined)
    await fs.rm(root, { recursive: true, force: true })
  })

  it('keeps one connection per pair when both ends dial, and the blob still arrives whole', async () => {
    const data = randomBytes(2 << 20)
    const digest = Digest.fromHex(createHash('sha256').update(data).digest('hex'))
    const hasher = new BlobHasher(data.length)
    hasher.update(data)
    const { torrent } = buildTorrent(digest, hasher.finish(), `http://127.0.0.1:${await freePort()}/announce`)
    const seedDir = path.join(root, 'seed')
    await fs.mkdir(seedDir)
    await fs.writeFile(path.join(seedDir, digest.hex), data)

    const seeder = new Swarm({ peerPort: 0, role: 'seeder', advertiseHost: '127.0.0.1', logger: testLogger('seeder') })
    const a = new Swarm({ peerPort: 0, role: 'agent', advertiseHost: '127.0.0.1', logger: testLogger('a') })
    const b = new Swarm({ peerPort: 0, role: 'agent', advertiseHost: '127.0.0.1', logger: testLogger('b') })
    swarms.push(seeder, a, b)
    const seederPort = await seeder.listening()
    const aPort = await a.listening()
    const bPort = await b.listening()
    await seeder.seed(torrent, seedDir)
    const download = async (s: Swarm, name: string) => {
      const store = new FileBlobStore(path.join(root, name))
      await store.init()
      const dl = await s.download(torrent, await store.beginRandomAccess(digest, data.length))
      const handshakes: Wire[] = []
      dl.torrent.on('wire', (w: Wire) => handshakes.push(w))
      return { dl, handshakes }
    }
    const atA = await download(a, 'a')
    const atB = await download(b, 'b')
    // Each dials the other at once, as two nodes do when the tracker hands each the other.
    atA.dl.torrent.addPeer(`127.0.0.1:${bPort}`)
    atB.dl.torrent.addPeer(`127.0.0.1:${aPort}`)
    atA.dl.torrent.addPeer(`127.0.0.1:${seederPort}`)
    atB.dl.torrent.addPeer(`127.0.0.1:${seederPort}`)

    const sha = async (dl: typeof atA.dl) => {
      const h = createHash('sha256')
      for await (const c of dl.stream()) h.update(c as Buffer)
      return h.digest('hex')
    }
    assert.deepEqual(await Promise.all([sha(atA.dl), sha(atB.dl)]), [digest.hex, digest.hex])

    const toPeer = (x: typeof atA, peerId: string) => x.handshakes.filter((w) => w.peerId === peerId)
    for (let i = 0; i < 50 && (toPeer(atA, b.peerId).length < 2 || toPeer(atB, a.peerId).length < 2); i++) await new Promise((r) => setTimeout(r, 50))
    assert.equal(toPeer(atA, b.peerId).length, 2, 'both connections between a and b completed their handshake at a')
    await new Promise((r) => setTimeout(r, 200))
    const openAtA = openWires(atA.dl.torrent).filter((w) => w.peerId === b.peerId)
    const openAtB = openWires(atB.dl.torrent).filter((w) => w.peerId === a.peerId)
    assert.equal(openAtA.length, 1, 'a keeps one connection to b')
    assert.equal(openAtB.length, 1, 'b keeps one connection to a')
    // The same connection at both ends, the one the smaller peer id dialled.
    const aDialled = a.peerId < b.peerId
    assert.equal(openAtA[0].type === 'tcpOutgoing', aDialled)
    assert.equal(openAtB[0].type === 'tcpOutgoing', !aDialled)
    assert.ok(atA.dl.received.peers + atB.dl.received.peers > 0, 'a and b traded pieces over it')
  })
})
