import { pipeline } from 'node:stream/promises'
import type { Response } from 'express'
import { InlineHeaders, type InlineLimits } from '../lib/protocol/inline.js'
import type { BlobTorrent } from '../lib/swarm/torrent.js'
import type { BlobService } from './blob-service.js'
import type { Tracker } from '../lib/swarm/tracker.js'

/**
 * Decides when a torrent request is answered with the blob itself. For a
 * small blob a torrent costs more round trips than the whole transfer, and
 * a node alone with the seeder gains nothing from a swarm: the same bytes
 * leave the same host either way. So a blob comes inline up to the agent's
 * `max`, and up to its `aloneMax` while no agent is in the blob's swarm and
 * no other inline transfer of it runs. Of several agents asking at once, one
 * gets the bytes and the others the torrent, so a burst costs at most one
 * extra copy of the blob.
 */
export class InlinePolicy {
  private readonly sending = new Map<string, number>()

  constructor(private readonly tracker: Tracker) {}

  /** Answers with the blob's bytes (and `torrent`, as handed to agents, in a header) if the policy says so; true if it did. */
  async answer(res: Response, t: BlobTorrent, torrent: Buffer, limits: InlineLimits, blobs: BlobService): Promise<boolean> {
    if (!this.wanted(t, limits)) return false
    const key = t.digest.hex
    this.sending.set(key, (this.sending.get(key) ?? 0) + 1)
    try {
      res.set({
        'content-type': 'application/octet-stream',
        'content-length': String(t.size),
        'docker-content-digest': t.digest.toString(),
        [InlineHeaders.infoHash]: t.infoHash.hex,
        [InlineHeaders.torrent]: torrent.toString('base64'),
      })
      await pipeline(blobs.read(t.digest), res)
    } finally {
      const n = (this.sending.get(key) ?? 1) - 1
      if (n > 0) this.sending.set(key, n)
      else this.sending.delete(key)
    }
    return true
  }

  private wanted(t: BlobTorrent, limits: InlineLimits): boolean {
    if (t.size <= limits.max) return true
    return t.size <= limits.aloneMax && !this.sending.has(t.digest.hex) && this.tracker.agentPeers(t.infoHash) === 0
  }
}
