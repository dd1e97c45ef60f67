// Just the parts of these untyped packages that layerseed calls.

declare module 'bencode' {
  const bencode: {
    encode(data: unknown): Uint8Array
    decode(data: Uint8Array): unknown
  }
  export default bencode
}

declare module 'bittorrent-tracker/server' {
  import type { IncomingMessage, ServerResponse } from 'node:http'
  import { EventEmitter } from 'node:events'
  interface ServerOptions {
    http?: boolean
    udp?: boolean
    ws?: boolean
    stats?: boolean
    trustProxy?: boolean
    interval?: number
    filter?: (infoHash: string, params: Record<string, unknown>, cb: (err: Error | null) => void) => void
  }
  export default class Server extends EventEmitter {
    constructor(opts?: ServerOptions)
    /** The tracker's swarm class; its fields are private (lib/swarm/webtorrent/internals.ts). */
    static Swarm: new (infoHash: string, server: Server) => object
    onHttpRequest(req: IncomingMessage, res: ServerResponse, opts?: { action?: 'announce' | 'scrape' }): void
    close(cb?: () => void): void
  }
}

declare module 'node-cron' {
  interface ScheduledTask {
    stop(): void
  }
  const cron: {
    schedule(expression: string, fn: () => void, opts?: { scheduled?: boolean; name?: string }): ScheduledTask
    validate(expression: string): boolean
    getTasks(): Map<string, ScheduledTask>
  }
  export default cron
}

declare module 'speed-limiter' {
  /** The token bucket (package `limiter`) a group's throttles draw from. */
  interface TokenBucket {
    bucketSize: number
    tryRemoveTokens(count: number): boolean
    removeTokens(count: number, cb: (err: unknown) => void): boolean
  }
  export class ThrottleGroup {
    constructor(opts: { rate: number; enabled: boolean })
    readonly bucket: TokenBucket
    getEnabled(): boolean
    setEnabled(enabled: boolean): void
    getRate(): number
    setRate(bytesPerSec: number): void
    getChunksize(): number
  }
}

// webtorrent's private classes: only lib/swarm/webtorrent/ imports them, and
// describes their members itself (internals.ts).
declare module 'webtorrent/lib/peer.js' {
  const Peer: {
    prototype: object
    createTCPOutgoingPeer(addr: string, swarm: null, throttleGroups: { down: null; up: null }): object
  }
  export default Peer
}

declare module 'webtorrent/lib/torrent.js' {
  const Torrent: { prototype: object }
  export default Torrent
}

declare module 'bittorrent-protocol' {
  export default class Wire {
    destroy(): void
  }
}

declare module 'webtorrent' {
  import { EventEmitter } from 'node:events'
  import type { Readable } from 'node:stream'
  export interface Wire extends EventEmitter {
    peerId: string
    /** How the connection was made: 'tcpOutgoing' when this process dialled. */
    type: string | null
    /** The peer wants pieces from us. */
    peerInterested: boolean
    /** Bytes per second sent to this peer over the last seconds. */
    uploadSpeed(): number
    remoteAddress?: string
    remotePort?: number
    downloaded: number
    uploaded: number
    peerPieces?: { get(index: number): boolean }
    destroyed: boolean
    destroy(): void
    have(index: number): void
    haveAll(): void
    bitfield(bitfield: Uint8Array): void
  }
  export interface TorrentFile {
    name: string
    length: number
    path: string
    createReadStream(opts?: { start?: number; end?: number }): Readable
  }
  export interface Torrent extends EventEmitter {
    infoHash: string
    name: string
    length: number
    pieceLength: number
    progress: number
    done: boolean
    ready: boolean
    files: TorrentFile[]
    numPeers: number
    select(from: number, to: number, priority?: number): void
    /** Connects to a peer at `host:port` without asking a tracker. */
    addPeer(addr: string): boolean
    destroy(opts?: { destroyStore?: boolean }, cb?: (err?: Error | null) => void): void
  }
  export interface AddOptions {
    path?: string
    skipVerify?: boolean
    private?: boolean
    announce?: string[]
    destroyStoreOnDestroy?: boolean
    /** Start with nothing selected; the caller selects pieces itself. */
    deselect?: boolean
    /** An abstract-chunk-store constructor, called with the piece length. */
    store?: new (chunkLength: number, opts: unknown) => unknown
    /** In-memory piece cache webtorrent puts in front of the store (0: none). */
    storeCacheSlots?: number
    /** Choke peers that look like seeders (default true). */
    alwaysChokeSeeders?: boolean
    /** Extra query parameters for each announce of this torrent. */
    getAnnounceOpts?: () => Record<string, unknown>
  }
  export interface ClientOptions {
    peerId?: string
    torrentPort?: number
    dht?: boolean
    lsd?: boolean
    utp?: boolean
    natUpnp?: boolean
    natPmp?: boolean
    webSeeds?: boolean
    tracker?: Record<string, unknown> | boolean
    downloadLimit?: number
    uploadLimit?: number
  }
  export default class WebTorrent extends EventEmitter {
    constructor(opts?: ClientOptions)
    torrentPort: number
    listening: boolean
    torrents: Torrent[]
    add(torrent: Buffer | Uint8Array, opts: AddOptions, onTorrent?: (t: Torrent) => void): Torrent
    get(infoHash: string): Promise<Torrent | null>
    remove(infoHash: string, opts?: { destroyStore?: boolean }, cb?: (err?: Error | null) => void): Promise<void>
    destroy(cb?: (err?: Error | null) => void): void
  }
}
