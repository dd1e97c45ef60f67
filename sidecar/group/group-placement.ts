import type { Digest } from '../../lib/core/domain.js'
import { ownerOrder, type Member } from '../../lib/protocol/owners.js'
import type { BlobPlacement } from '../placement.js'

/** Owners by rendezvous hashing over the live members: the first `replicas` of a blob's order. */
export class GroupPlacement implements BlobPlacement {
  constructor(
    private readonly selfId: string,
    private readonly members: () => readonly Member[],
    private readonly replicas: number,
  ) {}

  private owners(digest: Digest): { owners: Member[]; rank: number } {
    const owners = ownerOrder(digest.hex, this.members()).slice(0, this.replicas)
    return { owners, rank: owners.findIndex((m) => m.id === this.selfId) }
  }

  holds(digest: Digest): boolean {
    return this.owners(digest).rank >= 0
  }

  sources(digest: Digest): string[] {
    const { owners, rank } = this.owners(digest)
    return (rank < 0 ? owners : owners.slice(0, rank)).map((m) => m.url)
  }

  forwardTo(digest: Digest): string[] {
    return this.owners(digest).owners.filter((m) => m.id !== this.selfId).map((m) => m.url)
  }
}
