import type { Wire } from 'webtorrent'

// A peer's zone and rack travel in the BEP 10 extended handshake, which every
// webtorrent peer sends right after the BitTorrent handshake: bittorrent-protocol
// sends `wire.extendedHandshake` as it is when the torrent's 'wire' event has run.

const ZONE = 'ls_zone'
const RACK = 'ls_rack'

interface HandshakeWire {
  extendedHandshake: Record<string, unknown>
}

/** Puts this process's zone and rack into the extended handshake of a wire; call from the torrent's 'wire' event. */
export function tellPlace(wire: Wire, place: { zone?: string; rack?: string }): void {
  const h = (wire as unknown as HandshakeWire).extendedHandshake
  if (place.zone !== undefined) h[ZONE] = place.zone
  if (place.rack !== undefined) h[RACK] = place.rack
}

/**
 * Calls `fn` once with the zone and rack the peer put in its extended
 * handshake, as raw strings (the caller validates them), each undefined when
 * absent or not a short string.
 */
export function onPeerPlace(wire: Wire, fn: (raw: { zone?: string; rack?: string }) => void): void {
  const onExtended = (ext: unknown, info: unknown) => {
    if (ext !== 'handshake') return
    wire.off('extended', onExtended)
    const h = (info ?? {}) as Record<string, unknown>
    fn({ zone: text(h[ZONE]), rack: text(h[RACK]) })
  }
  wire.on('extended', onExtended)
}

function text(v: unknown): string | undefined {
  if (!(v instanceof Uint8Array) || v.length > 63) return undefined
  return Buffer.from(v.buffer, v.byteOffset, v.length).toString('latin1')
}
