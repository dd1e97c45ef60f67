import type { EventEmitter } from 'node:events'
import type { Socket } from 'node:net'
import type { ThrottleGroup } from 'speed-limiter'

// Every private or undocumented member of webtorrent, bittorrent-protocol and
// bittorrent-tracker that layerseed reads or replaces, declared once: the
// types the patches use, and a table `checkInternals` verifies at start, so
// a dependency upgrade that renames one fails loudly instead of silently
// losing a patch.

export type BlockPlacer = (index: number, begin: number, length: number) => Uint8Array | undefined

/** bittorrent-protocol's Wire, as its message parser and the direct pipes see it. */
export interface WireInternals extends EventEmitter {
  destroyed: boolean
  destroying?: boolean
  peerChoking: boolean
  requests: Array<{ piece: number; offset: number; length: number }>
  peerPieces: { get(index: number): boolean }
  downloadSpeed(): number
  uploadSpeed(): number
  request(index: number, offset: number, length: number, cb: (err: Error | null, data?: Uint8Array) => void): void
  have(index: number): void
  bitfield(bitfield: Uint8Array): void
  haveAll(): void
  peerInterested: boolean
  unchoke(): void
  _finished: boolean
  _buffer: Uint8Array[]
  _bufferSize: number
  _parserSize: number
  _parser: ((buf: Uint8Array) => void) | null
  _cryptoSyncPattern: Uint8Array | null
  _encryptionMethod: number | null
  _onMessage(buf: Uint8Array): void
  _onMessageLength(buf: Uint8Array): void
  _write(data: Uint8Array, cb: (err: Error | null) => void): void
  _push(data: Uint8Array): boolean | undefined
  push(data: Uint8Array | null): boolean
  _onPiece(index: number, offset: number, buf: Uint8Array): void
  _parse(size: number, parser: (buf: Uint8Array) => void): void
  /** Set by the direct pipes: where outgoing bytes go instead of the stream. */
  _layerseedOut?: (data: Uint8Array) => void
  /** Set by `placeBlocks`. */
  _layerseedPlace?: BlockPlacer
  /** Set by `onViolation`: told of a message no honest peer sends. */
  _layerseedViolation?: (reason: string) => void
  /** A piece message whose data is being copied into place. */
  _layerseedBlock?: { target: Uint8Array; filled: number; index: number; begin: number }
}

/** webtorrent's Peer (lib/peer.js), which owns a connection's pipes. */
export interface PeerInternals extends EventEmitter {
  conn: Socket | null
  wire: WireInternals | null
  destroyed: boolean
  destroy(err?: Error): void
  throttleGroups: { down: ThrottleGroup; up: ThrottleGroup }
  setThrottlePipes(): void
}

/** webtorrent's Torrent, as the peering rules and the piece picker see it. */
export interface TorrentInternals extends EventEmitter {
  destroyed: boolean
  pieces: Array<{ readonly length: number } | null>
  /** Hex SHA-1 of each piece, from the torrent. */
  _hashes: string[]
  bitfield: { get(index: number): boolean }
  wires: WireInternals[]
  store: {
    put(index: number, buf: Uint8Array, cb: (err?: Error | null) => void): void
    get(index: number, opts: undefined, cb: (err: Error | null, buf?: Uint8Array) => void): void
  }
  /** Read by webtorrent's handshake check, which refuses a peer with our own id; webtorrent never sets it. */
  peerId?: string
  _update(): void
  _updateWire(wire: WireInternals): void
  _updateWireInterest(wire: WireInternals): void
  _hotswap(wire: WireInternals, index: number): boolean
  _markVerified(index: number): void
  _checkDone(): boolean
  _destroy(err: Error): void
  _rechoke(): void
  _validAddr(addr: string): boolean
}

/** The WebTorrent client's throttles, which every peer connection passes through. */
export interface ClientInternals {
  throttleGroups: { down: ThrottleGroup; up: ThrottleGroup }
}

/** bittorrent-tracker's peer store of one swarm: an LRU (package `lru`). */
export interface TrackerPeers {
  readonly keys: string[]
  peek(id: string): { peerId?: string } | undefined
  remove(id: string): void
}

/** bittorrent-tracker's Server: its swarms by hex info-hash. */
export interface TrackerInternals {
  torrents: Record<string, { peers: TrackerPeers } | undefined>
}

export type Owner =
  | 'Torrent.prototype'
  | 'Torrent'
  | 'WebTorrent'
  | 'Peer.prototype'
  | 'Peer'
  | 'Wire.prototype'
  | 'Wire'
  | 'TrackerServer'
  | 'TrackerSwarm'
  | 'TrackerPeers'

export type FieldType = 'object' | 'array' | 'boolean' | 'number' | 'function' | 'null'

export type Shape =
  | { readonly kind: 'function'; readonly arity?: number }
  | { readonly kind: 'field'; readonly type: FieldType }
  /** A field the library reads but never sets: checked by its reader's source still naming it. */
  | { readonly kind: 'read'; readonly reader: string; readonly text: string }

export interface Member {
  readonly owner: Owner
  readonly name: string
  readonly shape: Shape
  /**
   * The text outside code would reach the member by, which the layout test
   * forbids outside this folder: `.name` unless given. null for names that
   * are public members of other objects too (`wire.peerId`, a stream's
   * `destroyed`); those are kept off the public types in types/vendor.d.ts,
   * so the compiler fences them instead.
   */
  readonly spelled?: string | null
}

const fn = (arity?: number): Shape => ({ kind: 'function', arity })
const field = (type: FieldType): Shape => ({ kind: 'field', type })

export const MEMBERS: readonly Member[] = [
  // Replaced by the piece picker and the peering rules (piece-picker.ts, peering.ts).
  { owner: 'Torrent.prototype', name: '_update', shape: fn(0) },
  { owner: 'Torrent.prototype', name: '_updateWire', shape: fn(1) },
  // Called by the piece picker for a peer whose bitfield came with its handshake (piece-picker.ts).
  { owner: 'Torrent.prototype', name: '_updateWireInterest', shape: fn(1) },
  { owner: 'Torrent.prototype', name: '_hotswap', shape: fn(2) },
  { owner: 'Torrent.prototype', name: '_markVerified', shape: fn(1) },
  { owner: 'Torrent.prototype', name: '_checkDone', shape: fn(0) },
  { owner: 'Torrent.prototype', name: '_destroy', shape: fn(3) },
  { owner: 'Torrent.prototype', name: '_rechoke', shape: fn(0) },
  { owner: 'Torrent.prototype', name: '_validAddr', shape: fn(1) },
  // Set once a torrent has its metadata, so checked on each torrent when it is ready (torrent-state.ts).
  { owner: 'Torrent', name: '_hashes', shape: field('array') },
  { owner: 'Torrent', name: 'pieces', shape: field('array'), spelled: null },
  { owner: 'Torrent', name: 'bitfield', shape: field('object'), spelled: null },
  { owner: 'Torrent', name: 'wires', shape: field('array'), spelled: null },
  { owner: 'Torrent', name: 'store', shape: field('object'), spelled: null },
  { owner: 'Torrent', name: 'destroyed', shape: field('boolean'), spelled: null },
  { owner: 'Torrent', name: 'peerId', shape: { kind: 'read', reader: 'Peer.prototype.onHandshake', text: 'this.swarm.peerId' }, spelled: null },
  { owner: 'WebTorrent', name: 'throttleGroups', shape: field('object') },
  // The direct pipes (wire-patches.ts).
  { owner: 'Peer.prototype', name: 'setThrottlePipes', shape: fn(0) },
  { owner: 'Peer.prototype', name: 'destroy', shape: fn(1), spelled: null },
  { owner: 'Peer', name: 'conn', shape: field('null') },
  { owner: 'Peer', name: 'wire', shape: field('null'), spelled: null },
  { owner: 'Peer', name: 'destroyed', shape: field('boolean'), spelled: null },
  { owner: 'Peer', name: 'throttleGroups', shape: field('object') },
  // The message parser (wire-parser.ts) and the seeder's empty first bitfield (seed-wire.ts).
  { owner: 'Wire.prototype', name: '_write', shape: fn(2) },
  { owner: 'Wire.prototype', name: '_push', shape: fn(1) },
  { owner: 'Wire.prototype', name: '_onMessage', shape: fn(1) },
  { owner: 'Wire.prototype', name: '_onMessageLength', shape: fn(1) },
  { owner: 'Wire.prototype', name: '_onPiece', shape: fn(3) },
  { owner: 'Wire.prototype', name: '_parse', shape: fn(2) },
  { owner: 'Wire.prototype', name: 'bitfield', shape: fn(1), spelled: null },
  { owner: 'Wire.prototype', name: 'haveAll', shape: fn(0) },
  { owner: 'Wire', name: '_finished', shape: field('boolean') },
  { owner: 'Wire', name: '_buffer', shape: field('array') },
  { owner: 'Wire', name: '_bufferSize', shape: field('number') },
  { owner: 'Wire', name: '_parserSize', shape: field('number') },
  { owner: 'Wire', name: '_parser', shape: field('function') },
  { owner: 'Wire', name: '_cryptoSyncPattern', shape: field('null') },
  { owner: 'Wire', name: '_encryptionMethod', shape: field('null') },
  { owner: 'Wire', name: 'destroying', shape: field('boolean') },
  // The tracker's peers of a swarm, read and removed by the sidecar (tracker-peers.ts).
  { owner: 'TrackerServer', name: 'torrents', shape: field('object'), spelled: '.torrents[' },
  { owner: 'TrackerSwarm', name: 'peers', shape: field('object'), spelled: '.peers.' },
  { owner: 'TrackerPeers', name: 'keys', shape: field('array'), spelled: 'peers.keys' },
  { owner: 'TrackerPeers', name: 'peek', shape: fn(1), spelled: 'peers.peek' },
  { owner: 'TrackerPeers', name: 'remove', shape: fn(1), spelled: 'peers.remove' },
  // Each swarm built is made to order its answers by topology (tracker-peers.ts).
  { owner: 'TrackerServer', name: 'createSwarm', shape: fn(2) },
  { owner: 'TrackerSwarm', name: 'announce', shape: fn(2), spelled: null },
]

/** The package an owner's objects come from, for the layout test. */
export const packageOf = (owner: Owner): 'webtorrent' | 'bittorrent-tracker' => (owner.startsWith('Tracker') ? 'bittorrent-tracker' : 'webtorrent')
