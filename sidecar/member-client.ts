import type { Readable } from 'node:stream'
import type { BlobRef, PushTarget } from '../lib/core/domain.js'
import { AppError } from '../lib/core/errors.js'
import { httpGet, readBody } from '../lib/http/get.js'
import { targetRecord } from './intake-journal.js'

/** The header a member's own calls to another carry: the group's webhook token, which every member is given. */
export const MEMBER_HEADER = 'x-layerseed-member'

/**
 * Calls from one sidecar to another member of its group. Both carry the
 * group's webhook token (`--webhook-token`, the same on every member): the
 * forwarded targets as the registry's webhooks do (`Authorization: Bearer`),
 * the blob reads in `X-Layerseed-Member`, which stands in for a registry
 * token on the blob routes when token auth is on. A member never calls a URL
 * taken from a request: only those the membership in Redis lists.
 */
export class MemberClient {
  constructor(
    private readonly token: () => string | undefined,
    private readonly timeoutMs = 10_000,
  ) {}

  /** A blob's verified bytes from another member, which fetches it from the origin first if it must. */
  async openBlob(base: string, ref: BlobRef): Promise<{ stream: Readable; length: number }> {
    const token = this.token()
    const res = await httpGet(`${base}/v1/blobs/${ref.digest}/data?repo=${encodeURIComponent(ref.repo.toString())}`, {
      headers: token ? { [MEMBER_HEADER]: token } : {},
      timeoutMs: this.timeoutMs,
      connectTimeoutMs: 1000,
    })
    const length = Number(res.headers['content-length'])
    if (res.statusCode !== 200 || !Number.isSafeInteger(length)) {
      const body = await readBody(res, 4096).catch(() => Buffer.alloc(0))
      throw new AppError('BLOB_FETCH_FAILED', `member ${base}: HTTP ${res.statusCode} ${body.toString('utf8').slice(0, 300)}`)
    }
    return { stream: res, length }
  }

  /** Hands push targets to the member that owns them. */
  async forward(base: string, targets: readonly PushTarget[]): Promise<void> {
    const token = this.token()
    const res = await fetch(`${base}/v1/group/targets`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: JSON.stringify({ targets: targets.map(targetRecord) }),
      signal: AbortSignal.timeout(this.timeoutMs),
    })
    if (!res.ok) throw new Error(`member ${base}: HTTP ${res.status} ${(await res.text()).slice(0, 300)}`)
  }
}
