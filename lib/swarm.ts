import { randomBytes } from 'node:crypto'
import { Readable } from 'node:stream'
import WebTorrent, { type Torrent, type Wire } from 'webtorrent'
import type { Logger } from './logger.js'
import { RateLimit } from './rate-limit.js'
import { superSeed } from './super-seed.js'

/** Peer-id prefixes: they let a downloader tell the sidecar's seeder from other nodes. */
export const PeerIdPrefix = { seeder: '-LS010S-', agent: '-LS010A-' } as const
const SEEDER_HEX = Buffer.from(PeerIdPrefix.seeder).toString('hex')

export interface SwarmOptions {
  /** TCP port for peer connections; 0 picks a free one. */
  readonly peerPort: number
  readonly role: keyof typeof PeerIdPrefix
  /** Sent to the tracker as `ip`, so peers on other hosts reach this one at a routable address. */
  readonly advertiseHost: string
  readonly logger: Logger
}

export interface PeerBytes {
  seeder: number
  peers: number
}

export interface Download {
  readonly torrent: Torrent
  /** Bytes in order from the start, as pieces verify. */
  stream(): Readable
  /** Bytes received so far, by who sent them. */
  readonly received: PeerBytes
  /** When the last bytes arrived from any peer (ms since the epoch). */
  lastActivity(): number
  /** Distinct peers this download was connected to. */
  peersSeen(): number
}

/**
 * The BitTorrent side of a process: one webtorrent client, TCP only. DHT, LSD,
 * UPnP/NAT-PMP, uTP and web seeds are off so peers are found only through the
 * sidecar's tracker and no traffic goes anywhere else.
 */
export class Swarm {
  private readonly client: WebTorrent
  /** Host-wide limits every peer connection passes through; HTTP transfers join them. */
  readonly rates: { readonly download: RateLimit; readonly upload: RateLimit }

  constructor(private readonly opts: SwarmOptions) {
    const peerId = Buffer.concat([Buffer.from(PeerIdPrefix[opts.role]), randomBytes(12)]).toString('hex')
    this.client = new WebTorrent({
      peerId,
      torrentPort: opts.peerPort,
      dht: false,
      lsd: false,
      utp: false,
      natUpnp: false,
      natPmp: false,
      webSeeds: false,
      tracker: { getAnnounceOpts: () => ({ ip: opts.advertiseHost }) },
    })
    this.client.on('error', (err: unknown) => opts.logger.error({ err }, 'swarm error'))
    this.rates = { download: new RateLimit(this.client.throttleGroups.down), upload: new RateLimit(this.client.throttleGroups.up) }
  }

  /** Resolves once the peer port is bound. */
  async listening(): Promise<number> {
    if (!this.client.listening) await new Promise<void>((resolve) => this.client.once('listening', () => resolve()))
    return this.client.torrentPort
  }

  /** Seeds a verified file `<dir>/<torrent name>`; its pieces are not re-checked. */
  async seed(torrent: Buffer, dir: string): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      const t = this.client.add(torrent, { path: dir, skipVerify: true }, () => resolve())
      t.once('error', reject)
      if (this.opts.role === 'seeder') superSeed(t)
    })
  }

  async download(torrent: Buffer, dir: string): Promise<Download> {
    const received: PeerBytes = { seeder: 0, peers: 0 }
    let last = 0
    const seen = new Set<string>()
    const t = await new Promise<Torrent>((resolve, reject) => {
      const added = this.client.add(torrent, { path: dir, deselect: true }, (ready) => resolve(ready))
      added.once('error', reject)
    })
    t.on('wire', (wire: Wire) => {
      wire.on('download', (n: number) => {
        seen.add(wire.peerId)
        last = Date.now()
        if (wire.peerId?.startsWith(SEEDER_HEX)) received.seeder += n
        else received.peers += n
      })
    })
    selectInRandomSegments(t)
    return { torrent: t, received, stream: () => Readable.from(verifiedInOrder(t)), lastActivity: () => last, peersSeen: () => seen.size }
  }

  /**
   * Whether peers are taking the blob named `name` from this host now: one is
   * interested in it, or was sent bytes in the last seconds. Cheap: it reads
   * the wires' state, for the few blobs the reaper considers.
   */
  uploading(name: string): boolean {
    const t = this.client.torrents.find((x) => x.name === name)
    return t !== undefined && t.wires.some((w) => w.peerInterested || w.uploadSpeed() > 0)
  }

  async has(infoHash: string): Promise<boolean> {
    return (await this.client.get(infoHash)) !== null
  }

  /** Stops sharing the torrent of the blob named `name`, if it is shared. */
  async removeNamed(name: string): Promise<void> {
    const t = this.client.torrents.find((x) => x.name === name)
    if (t) await this.remove(t.infoHash)
  }

  /** Stops sharing a torrent; with dropFiles, deletes what it downloaded too. */
  async remove(infoHash: string, dropFiles = false): Promise<void> {
    if (!(await this.has(infoHash))) return
    await this.client.remove(infoHash, { destroyStore: dropFiles })
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => this.client.destroy(() => resolve()))
  }
}

/** Pieces per segment: large enough that webtorrent's sequential picker stays cheap. */
const SEGMENTS = 16

/**
 * Selects the torrent's pieces as segments in a random order of this agent's
 * own. Agents that start together then hold different pieces and trade them,
 * as with rarest-first, without webtorrent's rarest-first picker, which costs
 * five times the CPU per byte.
 */
function selectInRandomSegments(t: Torrent): void {
  const n = t.pieces.length
  if (n === 0) return
  const size = Math.max(1, Math.ceil(n / SEGMENTS))
  const segs: Array<[number, number]> = []
  for (let from = 0; from < n; from += size) segs.push([from, Math.min(n, from + size) - 1])
  for (let i = segs.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1))
    ;[segs[i], segs[j]] = [segs[j], segs[i]]
  }
  segs.forEach(([from, to], i) => t.select(from, to, segs.length - i))
}

/** The blob's bytes in order, each piece as soon as it and all before it are verified. */
async function* verifiedInOrder(t: Torrent): AsyncGenerator<Buffer> {
  for (let i = 0; i < t.pieces.length; i++) {
    if (!t.bitfield.get(i)) {
      await new Promise<void>((resolve, reject) => {
        const onVerified = (index: number) => {
          if (index !== i) return
          cleanup()
          resolve()
        }
        const onGone = (err?: Error) => {
          cleanup()
          reject(err ?? new Error('torrent closed'))
        }
        const cleanup = () => {
          t.off('verified', onVerified)
          t.off('error', onGone)
          t.off('close', onGone)
        }
        t.on('verified', onVerified)
        t.once('error', onGone)
        t.once('close', onGone)
        if (t.bitfield.get(i)) onVerified(i)
      })
    }
    yield await new Promise<Buffer>((resolve, reject) =>
      t.store.get(i, undefined, (err, buf) => (err || !buf ? reject(err ?? new Error(`piece ${i} unreadable`)) : resolve(Buffer.from(buf)))),
    )
  }
}
