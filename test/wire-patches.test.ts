// Peer connections run on direct pipes (lib/wire-patches.ts), which must still
// honour the host-wide limits, including one set while a download runs. Two
// real webtorrent clients on loopback, connected directly.
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import fs from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { BlobHasher } from '../lib/store/blob-hasher.js'
import { FileBlobStore } from '../lib/store/blob-store.js'
import { Digest } from '../lib/core/domain.js'
import { Swarm } from '../lib/swarm/swarm.js'
import { buildTorrent } from '../lib/swarm/torrent.js'
import { freePort } from '../demo/ports.js'
import { testLogger } from './helpers/configs.js'

const MB = 1_000_000

describe('direct peer pipes', () => {
  let root: string
  const swarms: Swarm[] = []
  before(async () => {
    root = await fs.mkdtemp(path.join(os.tmpdir(), 'layerseed-pipes-'))
  })
  after(async () => {
    for (const s of swarms) await s.close().catch(() => undefined)
    await fs.rm(root, { recursive: true, force: true })
  })

  it('a download limit set while a download runs paces it from then on, and lifting it lets the rest through', async () => {
    const data = randomBytes(8 * MB)
    const digest = Digest.fromHex(createHash('sha256').update(data).digest('hex'))
    const hasher = new BlobHasher(data.length)
    hasher.update(data)
    const torrent = buildTorrent(digest, hasher.finish(), `http://127.0.0.1:${await freePort()}/announce`)
    await fs.mkdir(path.join(root, 'seed'))
    await fs.writeFile(path.join(root, 'seed', digest.hex), data)
    const seeder = new Swarm({ peerPort: 0, role: 'seeder', advertiseHost: '127.0.0.1', logger: testLogger('seeder') })
    const agent = new Swarm({ peerPort: 0, role: 'agent', advertiseHost: '127.0.0.1', logger: testLogger('agent') })
    swarms.push(seeder, agent)
    const seederPort = await seeder.listening()
    await agent.listening()
    await seeder.seed(torrent.torrent, path.join(root, 'seed'))
    const store = new FileBlobStore(path.join(root, 'agent'))
    await store.init()
    const dl = await agent.download(torrent.torrent, await store.beginRandomAccess(digest, data.length))

    // The limit goes on once bytes flow over the connection already open.
    const limited = new Promise<number>((resolve) => {
      dl.torrent.on('download', () => {
        if (agent.rates.download.bytesPerSec !== undefined) return
        agent.rates.download.set(2 * MB)
        resolve(dl.received.seeder)
      })
    })
    dl.torrent.addPeer(`127.0.0.1:${seederPort}`)
    const h = createHash('sha256')
    const stream = (async () => {
      for await (const c of dl.stream()) h.update(c as Buffer)
    })()
    const before = await limited
    const started = performance.now()
    await new Promise((resolve) => setTimeout(resolve, 1000))
    const inOneSecond = dl.received.seeder - before
    assert.ok(inOneSecond <= 2.6 * MB, `${(inOneSecond / MB).toFixed(2)} MB came in the first second under 2 MB/s`)
    agent.rates.download.set(undefined)
    await stream
    assert.equal(h.digest('hex'), digest.hex)
    assert.ok(performance.now() - started < 20_000)
  })
})
