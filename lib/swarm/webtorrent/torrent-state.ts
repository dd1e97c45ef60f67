import type { ThrottleGroup } from 'speed-limiter'
import type { Torrent, Wire } from 'webtorrent'
import { checkObject } from './check-internals.js'
import type { ClientInternals, TorrentInternals, WireInternals } from './internals.js'

// What the rest of layerseed reads of a torrent that webtorrent does not
// document: its piece bitfield, its store, its open wires.

const internals = (t: Torrent) => t as unknown as TorrentInternals

/** Throws if a ready torrent lacks a field the patches rely on; its fields exist only once it has metadata. */
export function checkTorrent(t: Torrent): void {
  checkObject('Torrent', t)
}

export const pieceCount = (t: Torrent): number => internals(t).pieces.length

export const hasPiece = (t: Torrent, index: number): boolean => internals(t).bitfield.get(index)

/** A verified piece, from the torrent's store. */
export function readPiece(t: Torrent, index: number): Promise<Uint8Array> {
  return new Promise((resolve, reject) =>
    internals(t).store.get(index, undefined, (err, buf) => (err || !buf ? reject(err ?? new Error(`piece ${index} unreadable`)) : resolve(buf))),
  )
}

/** Whether a peer is interested in the torrent or was sent bytes of it in the last seconds. */
export const isUploading = (t: Torrent): boolean => internals(t).wires.some((w) => w.peerInterested || w.uploadSpeed() > 0)

/** The client's host-wide throttles; throws if the client no longer has them. */
export function throttleGroupsOf(client: object): { down: ThrottleGroup; up: ThrottleGroup } {
  checkObject('WebTorrent', client)
  return (client as ClientInternals).throttleGroups
}

/**
 * Makes the first bitfield webtorrent sends on `wire` (right after the 'wire'
 * event, as a bitfield or a have-all) an empty one, for super-seeding.
 */
export function sendEmptyBitfield(wire: Wire, pieces: number): void {
  const w = wire as unknown as WireInternals
  const send = w.bitfield.bind(w)
  w.haveAll = () => send(Buffer.alloc(Math.ceil(pieces / 8)))
  w.bitfield = () => send(Buffer.alloc(Math.ceil(pieces / 8)))
}

/** The torrent's connections that are still open. */
export const openWires = (t: Torrent): Wire[] => internals(t).wires.filter((w) => !w.destroyed) as unknown as Wire[]
