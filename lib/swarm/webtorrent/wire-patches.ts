import type { Socket } from 'node:net'
import type { ThrottleGroup } from 'speed-limiter'
import Peer from 'webtorrent/lib/peer.js'
import { pay } from './throttle.js'
import { patchWireParser } from './wire-parser.js'
import type { PeerInternals, WireInternals } from './internals.js'

const PATCHED = Symbol.for('layerseed.wirePatches')
const noop = () => undefined

/**
 * Makes webtorrent's per-connection data path cheaper, process-wide. Idempotent.
 *
 * - webtorrent pipes every connection through two speed-limiter streams and
 *   two counting streams per direction, even with no rate limit set. Every
 *   connection gets direct pipes instead: socket reads go straight to the
 *   wire's parser, and the wire's messages straight to the socket, corked
 *   until the end of the tick so a piece's header and data leave in one
 *   write. The host-wide limits still hold: each chunk is checked against
 *   the client's throttle groups and, while one is enabled (also when a
 *   limit is set live), waits for that group's tokens, in order.
 * - The wire's parser copies less (wire-parser.ts).
 */
export function patchWires(): void {
  const proto = Peer.prototype as unknown as PeerInternals & { [PATCHED]?: true }
  if (proto[PATCHED]) return
  proto[PATCHED] = true
  proto.setThrottlePipes = function (this: PeerInternals) {
    const wire = this.wire
    const conn = this.conn
    if (!wire || !conn) return
    patchWireParser(Object.getPrototypeOf(wire) as WireInternals)
    directPipes(this, conn, wire)
  }
}

function directPipes(peer: PeerInternals, conn: Socket, wire: WireInternals): void {
  const { down, up } = peer.throttleGroups
  conn.setNoDelay(true)
  let corked = false
  const uncork = () => {
    corked = false
    if (!conn.destroyed) conn.uncork()
  }
  const send = (data: Uint8Array) => {
    if (peer.destroyed || conn.destroyed) return
    if (!corked) {
      corked = true
      conn.cork()
      process.nextTick(uncork)
    }
    conn.write(data)
  }
  const feed = (chunk: Buffer) => {
    if (peer.destroyed || wire.destroyed || wire.destroying) return
    try {
      wire._write(chunk, noop)
    } catch (err) {
      // A message the parser cannot take: drop this peer, as a stream error would.
      wire._layerseedViolation?.(`a message the parser refuses: ${err instanceof Error ? err.message : String(err)}`)
      peer.destroy(err instanceof Error ? err : new Error(String(err)))
    }
  }
  // Unlimited, each chunk goes straight through; limited, chunks queue in order behind the tokens they wait for.
  const outbox = paced(up, (data: Uint8Array) => {
    peer.emit('upload', data.length)
    send(data)
  })
  const inbox = paced(down, (chunk: Buffer) => {
    peer.emit('download', chunk.length)
    feed(chunk)
  }, (waiting) => (waiting ? conn.pause() : conn.resume()))
  wire._layerseedOut = outbox
  conn.on('data', inbox)
}

/**
 * A sink that passes chunks on at once while `group` is not enabled and
 * nothing waits, and otherwise queues them and hands each on once the
 * group's bucket paid for it. `waiting` is told when a queue starts and ends.
 */
function paced<T extends Uint8Array>(group: ThrottleGroup, on: (chunk: T) => void, waiting?: (yes: boolean) => void): (chunk: T) => void {
  const queue: T[] = []
  const pump = async () => {
    waiting?.(true)
    // Bounded by the queue: every turn hands one chunk on.
    while (queue.length > 0) {
      const chunk = queue[0]
      await pay(group, chunk.length)
      queue.shift()
      on(chunk)
    }
    waiting?.(false)
  }
  return (chunk) => {
    if (queue.length === 0 && !group.getEnabled()) return on(chunk)
    queue.push(chunk)
    if (queue.length === 1) void pump()
  }
}
