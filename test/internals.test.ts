// Every private member of webtorrent, bittorrent-protocol and
// bittorrent-tracker the patches rely on is listed once
// (lib/swarm/webtorrent/internals.ts); each must exist on the installed
// versions, and a start must fail naming any that does not.
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import { spawnSync } from 'node:child_process'
import fs from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import Wire from 'bittorrent-protocol'
import TrackerServer from 'bittorrent-tracker/server'
import WebTorrent, { type Torrent } from 'webtorrent'
import Peer from 'webtorrent/lib/peer.js'
import TorrentClass from 'webtorrent/lib/torrent.js'
import { BlobHasher } from '../lib/store/blob-hasher.js'
import { FileBlobStore } from '../lib/store/blob-store.js'
import { Digest } from '../lib/core/domain.js'
import { Swarm } from '../lib/swarm/swarm.js'
import { buildTorrent } from '../lib/swarm/torrent.js'
import { MEMBERS, type Owner } from '../lib/swarm/webtorrent/internals.js'
import { checkInternalsUncached, InternalsChanged, problemsOf } from '../lib/swarm/webtorrent/check-internals.js'
import { freePort } from '../demo/ports.js'
import { testLogger } from './helpers/configs.js'

const HERE = path.dirname(fileURLToPath(import.meta.url))
const BIN = path.resolve(HERE, '../../bin/layerseed.js')

/** Own properties the patches set on a torrent instead of webtorrent's prototype methods. */
const REPLACED_ON_DOWNLOAD = ['_update', '_updateWire', '_hotswap', '_rechoke', '_validAddr']

describe('webtorrent internals', () => {
  let root: string
  let swarm: Swarm
  let client: WebTorrent
  let torrent: Torrent
  const wire = new Wire()
  const tracker = new TrackerServer({ http: false, udp: false, ws: false, stats: false })
  const trackerSwarm = new TrackerServer.Swarm('0'.repeat(40), tracker)
  const subjects = (): Record<Owner, object> => ({
    'Torrent.prototype': TorrentClass.prototype,
    Torrent: torrent,
    WebTorrent: client,
    'Peer.prototype': Peer.prototype,
    Peer: Peer.createTCPOutgoingPeer('127.0.0.1:1', null, { down: null, up: null }),
    'Wire.prototype': Wire.prototype,
    Wire: wire,
    TrackerServer: tracker,
    TrackerSwarm: trackerSwarm,
    TrackerPeers: (trackerSwarm as { peers: object }).peers,
  })

  before(async () => {
    root = await fs.mkdtemp(path.join(os.tmpdir(), 'layerseed-internals-'))
    client = new WebTorrent({ torrentPort: 0, dht: false, lsd: false, utp: false, natUpnp: false, natPmp: false, webSeeds: false, tracker: false })
    swarm = new Swarm({ peerPort: 0, role: 'agent', advertiseHost: '127.0.0.1', logger: testLogger('agent') })
    const data = randomBytes(100_000)
    const digest = Digest.fromHex(createHash('sha256').update(data).digest('hex'))
    const hasher = new BlobHasher(data.length)
    hasher.update(data)
    const built = buildTorrent(digest, hasher.finish(), `http://127.0.0.1:${await freePort()}/announce`)
    const store = new FileBlobStore(root)
    await store.init()
    torrent = (await swarm.download(built.torrent, await store.beginRandomAccess(digest, data.length))).torrent
  })
  after(async () => {
    wire.destroy()
    tracker.close()
    await swarm.close()
    await new Promise<void>((resolve) => client.destroy(() => resolve()))
    await fs.rm(root, { recursive: true, force: true })
  })

  for (const m of MEMBERS) {
    it(`${m.owner} ${m.name} is there, as the patches expect`, () => {
      const subject = subjects()[m.owner]
      assert.deepEqual(problemsOf(m, subject), [])
      if (m.owner === 'Torrent.prototype' && REPLACED_ON_DOWNLOAD.includes(m.name)) {
        assert.ok(Object.hasOwn(torrent, m.name), `a download replaces ${m.name} on its torrent`)
      }
      if (m.owner === 'Peer.prototype' && m.name === 'setThrottlePipes') {
        assert.match(String((Peer.prototype as Record<string, unknown>).setThrottlePipes), /directPipes/, 'a Swarm puts the direct pipes in place')
      }
    })
  }

  it('a member missing from the installed webtorrent fails the check, naming it', () => {
    const proto = TorrentClass.prototype as Record<string, unknown>
    const saved = Object.getOwnPropertyDescriptor(proto, '_updateWire')!
    delete proto._updateWire
    try {
      assert.throws(checkInternalsUncached, (err: unknown) => {
        assert.ok(err instanceof InternalsChanged)
        assert.equal(err.message, 'webtorrent internals changed: Torrent.prototype._updateWire is missing (expected a function taking 1 argument)')
        return true
      })
    } finally {
      Object.defineProperty(proto, '_updateWire', saved)
    }
    checkInternalsUncached()
  })

  it('a member of another shape fails the check, naming it and the shape', () => {
    const proto = Wire.prototype as unknown as Record<string, unknown>
    const saved = Object.getOwnPropertyDescriptor(proto, '_parse')!
    proto._parse = 42
    try {
      assert.throws(checkInternalsUncached, /Wire\.prototype\._parse is a value of type number \(expected a function taking 2 arguments\)/)
    } finally {
      Object.defineProperty(proto, '_parse', saved)
    }
  })

  it('the agent CLI refuses to start without it: non-zero exit, one line naming the member', async () => {
    const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'layerseed-internals-cli-'))
    try {
      const r = spawnSync(process.execPath, ['--import', path.join(HERE, 'helpers/drop-member.js'), BIN, 'agent', '--sidecar', 'http://127.0.0.1:1', '--upstream', 'http://127.0.0.1:2', '--data-dir', dataDir, '--listen', '127.0.0.1:0', '--peer-port', '0'], {
        encoding: 'utf8',
        timeout: 20_000,
        env: { ...process.env, LAYERSEED_DROP: 'Torrent.prototype._updateWire' },
      })
      assert.notEqual(r.status, 0, r.stderr)
      assert.equal(r.stderr.trim(), 'layerseed agent: webtorrent internals changed: Torrent.prototype._updateWire is missing (expected a function taking 1 argument)')
    } finally {
      await fs.rm(dataDir, { recursive: true, force: true })
    }
  })
})
