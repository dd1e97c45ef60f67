import { randomBytes } from 'node:crypto'
import { Readable } from 'node:stream'
import WebTorrent, { type Torrent, type Wire } from 'webtorrent'
import type { Logger } from '../core/logger.js'
import { RateLimit } from './rate-limit.js'
import { superSeed } from './super-seed.js'
import { patchWires } from './webtorrent/wire-patches.js'
import { checkInternals } from './webtorrent/check-internals.js'
import { checkTorrent, hasPiece, isUploading, openWires, pieceCount, readPiece, throttleGroupsOf } from './webtorrent/torrent-state.js'
import { neverRequest, segmentOrder, takeOverRequests } from './webtorrent/piece-picker.js'
import { pieceStoreFor, seedStoreFor, type PieceTarget } from './piece-store.js'
import { safeJoin } from '../core/safe-path.js'
import { parseTorrent } from './torrent.js'
import { applyPeering, type Self } from './webtorrent/peering.js'
import { StartError } from '../core/errors.js'
import { bindProblem } from '../core/bind.js'
import { BanList } from './peer-bans.js'
import { PeerGuard, type BanEvent } from './peer-guard.js'
import { watchDesertion } from './desertion.js'
import { PeerPlaces, zonePreference } from './peer-places.js'
import { distance, OTHER_ZONE, type Place } from './topology.js'

/** Banned peers an announce reports to the tracker at most. */
const MAX_REPORTED = 16

/** Peer-id prefixes: they let a downloader tell the sidecar's seeder from other nodes. */
export const PeerIdPrefix = { seeder: '-LS010S-', agent: '-LS010A-' } as const
const SEEDER_HEX = Buffer.from(PeerIdPrefix.seeder).toString('hex')

/** Whether a hex peer id (as wires and the tracker hold it) is a sidecar's seeder. */
export const isSeederPeerId = (hex: string | undefined): boolean => hex?.startsWith(SEEDER_HEX) === true

export interface SwarmOptions {
  /** TCP port for peer connections; 0 picks a free one. */
  readonly peerPort: number
  readonly role: keyof typeof PeerIdPrefix
  /** Sent to the tracker as `ip`, so peers on other hosts reach this one at a routable address. */
  readonly advertiseHost: string
  readonly logger: Logger
  /** The peers this process refuses; one per process, so each Swarm builds its own unless given one. */
  readonly bans?: BanList
  /** Told of each peer a torrent of this swarm bans. */
  readonly onBan?: (e: BanEvent) => void
  /** This process's zone and rack: sent with every announce and handshake, and what peers are preferred by. */
  readonly place?: Place
}

export interface PeerBytes {
  seeder: number
  /** From other nodes (not seeders), whatever their zone. */
  peers: number
  /** The part of `peers` from nodes of this process's zone; without a zone of its own, none. */
  sameZone: number
}

export interface Download {
  readonly torrent: Torrent
  /** Bytes in order from the start, as pieces verify. */
  stream(): Readable
  /** Bytes received so far, by who sent them. */
  readonly received: PeerBytes
  /**
   * When the last piece verified (ms since the epoch; 0 before the first).
   * Bytes that fail their hash are no progress, so a swarm of liars stalls.
   */
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
  private closing = false
  private readonly client: WebTorrent
  private readonly self: Self
  private readonly bans: BanList
  private readonly places: PeerPlaces
  private uploaded = 0
  /** Host-wide limits every peer connection passes through; HTTP transfers join them. */
  readonly rates: { readonly download: RateLimit; readonly upload: RateLimit }

  /**
   * Throws if the installed webtorrent, bittorrent-protocol or
   * bittorrent-tracker lacks a member the patches rely on. Once per process;
   * the constructor runs it too, composition roots call it before they build
   * anything so a start fails before it opened files or ports.
   */
  static checkInternals(): void {
    checkInternals()
  }

  constructor(private readonly opts: SwarmOptions) {
    checkInternals()
    patchWires()
    this.bans = opts.bans ?? new BanList({ now: Date.now })
    this.places = new PeerPlaces(opts.place ?? {})
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
      tracker: { getAnnounceOpts: () => ({ ip: opts.advertiseHost, ...placeParams(opts.place) }) },
    })
    this.client.on('error', (err: unknown) => opts.logger.error({ err }, 'swarm error'))
    this.client.on('upload', (n: number) => {
      this.uploaded += n
    })
    this.self = { peerId, addr: () => `${opts.advertiseHost}:${this.client.torrentPort}`, refused: (addr) => this.bans.isBanned({ addr }) }
    let groups: ReturnType<typeof throttleGroupsOf>
    try {
      groups = throttleGroupsOf(this.client)
    } catch (err) {
      this.client.destroy()
      throw err
    }
    this.rates = { download: new RateLimit(groups.down), upload: new RateLimit(groups.up) }
  }

  /** This process's hex peer id. */
  get peerId(): string {
    return this.self.peerId
  }

  /** Bytes sent to peers since the process started, protocol messages included (a metrics counter). */
  get uploadedBytes(): number {
    return this.uploaded
  }

  /** Peers banned since the process started (a metrics counter). */
  get bannedPeers(): number {
    return this.bans.total
  }

  /** Distinct peers connected now, over all torrents (a metrics gauge). */
  get connectedPeers(): number {
    return new Set(this.client.torrents.flatMap((t) => openWires(t).map((w) => w.peerId))).size
  }

  /**
   * Bans a peer others found lying (the tracker delisted it): it is refused
   * and dropped from every torrent, so a seeder stops counting its claims.
   */
  ban(peerId: string): void {
    if (!this.bans.isBanned({ peerId })) this.bans.ban({ peerId })
    for (const t of this.client.torrents) for (const w of openWires(t)) if (w.peerId === peerId) w.destroy()
  }

  /** Resolves once the peer port is bound; a port that cannot be bound rejects with a StartError naming it. */
  async listening(): Promise<number> {
    if (!this.client.listening) {
      await new Promise<void>((resolve, reject) => {
        const onError = (err: NodeJS.ErrnoException) => reject(new StartError(`--peer-port ${this.opts.peerPort}: ${bindProblem(err)}`, { cause: err }))
        this.client.once('error', onError)
        this.client.once('listening', () => {
          this.client.off('error', onError)
          resolve()
        })
      })
    }
    return this.client.torrentPort
  }

  /** Seeds a verified file `<dir>/<torrent name>`; its pieces are not re-checked. */
  async seed(torrent: Buffer, dir: string): Promise<void> {
    const { name, size } = parseTorrent(torrent)
    const store = seedStoreFor(safeJoin(dir, name), size)
    await new Promise<void>((resolve, reject) => {
      const t = this.client.add(torrent, { store, storeCacheSlots: 0, skipVerify: true, alwaysChokeSeeders: false }, whenReady(() => resolve(), reject))
      t.once('error', reject)
      new PeerGuard(t, this.bans, this.opts.logger, this.opts.onBan)
      applyPeering(t, this.self)
      this.places.watch(t)
      neverRequest(t)
      if (this.opts.role === 'seeder') superSeed(t, Date.now, { zone: (w) => (this.places.of(w) ? (this.places.of(w)?.zone ?? '') : undefined), whenKnown: (w, fn) => this.places.whenKnown(w, fn) })
    })
  }

  /** Downloads into `target`, which receives each piece as it verifies; the torrent then seeds from it. */
  async download(torrent: Buffer, target: PieceTarget): Promise<Download> {
    const received: PeerBytes = { seeder: 0, peers: 0, sameZone: 0 }
    let last = 0
    const started = Date.now()
    const seen = new Set<string>()
    let guard: PeerGuard | undefined
    // Each announce names the peers this download banned, so the tracker can stop handing them out.
    const getAnnounceOpts = () => (guard?.banned.size ? { banned: [...guard.banned].slice(0, MAX_REPORTED) } : {})
    const t = await new Promise<Torrent>((resolve, reject) => {
      const added = this.client.add(torrent, { store: pieceStoreFor(target), storeCacheSlots: 0, deselect: true, alwaysChokeSeeders: false, getAnnounceOpts }, whenReady(resolve, reject))
      added.once('error', reject)
      guard = new PeerGuard(added, this.bans, this.opts.logger, this.opts.onBan)
      applyPeering(added, this.self)
      this.places.watch(added)
    })
    const g = guard!
    const deserted = new AbortController()
    watchDesertion(t, deserted, (w) => isSeederPeerId(w.peerId), (w) => g.usable(w))
    t.on('verified', () => {
      last = Date.now()
    })
    t.on('wire', (wire: Wire) => {
      wire.on('download', (n: number) => {
        seen.add(wire.peerId)
        if (isSeederPeerId(wire.peerId)) received.seeder += n
        else {
          received.peers += n
          if (distance(this.places.self, this.places.of(wire) ?? {}) < OTHER_ZONE) received.sameZone += n
        }
      })
    })
    const n = pieceCount(t)
    if (n > 0) {
      takeOverRequests(t, segmentOrder(n), g, zonePreference(this.places, (w) => isSeederPeerId(w.peerId), () => openWires(t), () => Date.now() - Math.max(started, last)))
      t.select(0, n - 1)
    }
    return { torrent: t, received, stream: () => Readable.from(verifiedInOrder(t, deserted.signal)), lastActivity: () => last, peersSeen: () => seen.size }
  }

  /**
   * Whether peers are taking the blob named `name` from this host now: one is
   * interested in it, or was sent bytes in the last seconds. Cheap: it reads
   * the wires' state, for the few blobs the reaper considers.
   */
  uploading(name: string): boolean {
    const t = this.client.torrents.find((x) => x.name === name)
    return t !== undefined && isUploading(t)
  }

  async has(infoHash: string): Promise<boolean> {
    return (await this.client.get(infoHash)) !== null
  }

  /** Stops sharing the torrent of the blob named `name`, if it is shared. */
  async removeNamed(name: string): Promise<void> {
    const t = this.client.torrents.find((x) => x.name === name)
    if (t) await this.remove(t.infoHash)
  }

  /** Stops sharing a torrent. Its file stays: it belongs to the blob store (see lib/piece-store.ts). */
  async remove(infoHash: string): Promise<void> {
    if (!(await this.has(infoHash))) return
    await this.client.remove(infoHash)
  }

  /** True once close() began: work still in flight then fails, and that is no fault to report. */
  get closed(): boolean {
    return this.closing
  }

  async close(): Promise<void> {
    this.closing = true
    await new Promise<void>((resolve) => this.client.destroy(() => resolve()))
  }
}

/** An add callback: the ready torrent, unless it lacks a field the patches rely on (known only once it is ready). */
function whenReady(resolve: (t: Torrent) => void, reject: (err: unknown) => void): (t: Torrent) => void {
  return (t) => {
    try {
      checkTorrent(t)
      resolve(t)
    } catch (err) {
      reject(err)
    }
  }
}

/** The blob's bytes in order, each piece as soon as it and all before it are verified; fails once `deserted` aborts. */
async function* verifiedInOrder(t: Torrent, deserted: AbortSignal): AsyncGenerator<Buffer> {
  const n = pieceCount(t)
  for (let i = 0; i < n; i++) {
    if (!hasPiece(t, i)) {
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
        const onDeserted = () => onGone(deserted.reason instanceof Error ? deserted.reason : new Error('every peer left'))
        const cleanup = () => {
          t.off('verified', onVerified)
          t.off('error', onGone)
          t.off('close', onGone)
          deserted.removeEventListener('abort', onDeserted)
        }
        t.on('verified', onVerified)
        t.once('error', onGone)
        t.once('close', onGone)
        if (deserted.aborted) return onDeserted()
        deserted.addEventListener('abort', onDeserted)
        if (hasPiece(t, i)) onVerified(i)
      })
    }
    const buf = await readPiece(t, i)
    // The store hands out Buffers already; a plain Uint8Array is wrapped, not copied.
    yield Buffer.isBuffer(buf) ? buf : Buffer.from(buf.buffer, buf.byteOffset, buf.length)
  }
}

/** A place as announce parameters: only the names it has. */
function placeParams(place: Place | undefined): Record<string, string> {
  const out: Record<string, string> = {}
  if (place?.zone !== undefined) out.zone = place.zone
  if (place?.rack !== undefined) out.rack = place.rack
  return out
}
