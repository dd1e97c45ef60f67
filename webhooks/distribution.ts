import { Digest, RepoName, manifestKind, type PushTarget } from '../lib/core/domain.js'
import { isObject, parsed, WebhookShapeError } from './shape.js'


export interface ParsedEnvelope {
  readonly targets: PushTarget[]
  /** Events we do not act on: other actions, and media types that are neither manifests nor blobs. */
  readonly ignored: number
}

// v2.8 sets application/octet-stream on every blob push; other registries and
// v3 may carry the descriptor's real type.
const BLOB_PREFIXES = ['application/vnd.oci.image.layer.', 'application/vnd.oci.image.config.', 'application/vnd.docker.image.rootfs.']
const BLOB_TYPES = new Set(['application/octet-stream', 'application/vnd.docker.container.image.v1+json'])

function isBlobType(t: string): boolean {
  return BLOB_TYPES.has(t) || BLOB_PREFIXES.some((p) => t.startsWith(p))
}



/**
 * Reads a distribution notification envelope (v2.8 batches events, v3 sends one
 * per envelope). The `url` fields are never read: what to fetch is derived from
 * the repository and digest alone, and fetched from the configured origin.
 */
export function parseDistributionEnvelope(body: unknown): ParsedEnvelope {
  if (!isObject(body)) throw new WebhookShapeError('', 'envelope must be a JSON object')
  if (!Array.isArray(body.events)) throw new WebhookShapeError('events', 'must be an array')
  const targets: PushTarget[] = []
  let ignored = 0
  body.events.forEach((ev: unknown, i: number) => {
    const at = `events[${i}]`
    if (!isObject(ev)) throw new WebhookShapeError(at, 'must be an object')
    if (typeof ev.action !== 'string') throw new WebhookShapeError(`${at}.action`, 'must be a string')
    if (ev.action !== 'push') {
      ignored++
      return
    }
    const target = ev.target
    if (!isObject(target)) throw new WebhookShapeError(`${at}.target`, 'must be an object')
    const repo = parsed(`${at}.target.repository`, () => RepoName.parse(target.repository))
    const digest = parsed(`${at}.target.digest`, () => Digest.parse(target.digest))
    const mediaType = typeof target.mediaType === 'string' ? target.mediaType : ''
    if (manifestKind(mediaType)) targets.push({ kind: 'manifest', ref: { repo, digest } })
    else if (isBlobType(mediaType)) targets.push({ kind: 'blob', ref: { repo, digest } })
    else ignored++
  })
  return { targets, ignored }
}
