import { createHash } from 'node:crypto'

/** A live sidecar of a group, as `GET /v1/members` lists it. */
export interface Member {
  readonly id: string
  /** Where agents and other members reach its HTTP API. */
  readonly url: string
  /** Its seeder's `host:port`. */
  readonly seeder: string
}

/** The members answer of `GET /v1/members`. */
export interface MembersAnswer {
  /** False for a sidecar without a group: then `members` is that sidecar alone. */
  readonly group: boolean
  /** The member that answered. */
  readonly self: string
  readonly members: Member[]
}

function score(id: string, digestHex: string): bigint {
  return createHash('sha256').update(id).update('\n').update(digestHex).digest().readBigUInt64BE(0)
}

/**
 * Rendezvous (highest random weight) hashing: the members in the order they
 * own a blob, the owner first. Every sidecar and agent computes the same order
 * from the same member ids, and a member leaving moves only the blobs it
 * owned, each to the next in its order.
 */
export function ownerOrder<M extends { readonly id: string }>(digestHex: string, members: readonly M[]): M[] {
  return members
    .map((m) => ({ m, s: score(m.id, digestHex) }))
    .sort((a, b) => (a.s === b.s ? (a.m.id < b.m.id ? -1 : 1) : a.s > b.s ? -1 : 1))
    .map((x) => x.m)
}
