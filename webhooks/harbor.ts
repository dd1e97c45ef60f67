import { Digest, RepoName, type PushTarget } from '../lib/core/domain.js'
import { isObject, parsed, WebhookShapeError } from './shape.js'

export interface ParsedHarborEvent {
  readonly targets: PushTarget[]
  /** Events we do not act on: anything but an artifact push. */
  readonly ignored: number
}

export type HarborFormat = 'default' | 'cloudevents'

const PUSH_TYPES: Record<HarborFormat, string> = { default: 'PUSH_ARTIFACT', cloudevents: 'harbor.artifact.pushed' }



/**
 * Reads a Harbor webhook in either payload format. Harbor sends no layer list,
 * only the manifest or index digest, so each resource becomes a manifest target
 * read from the configured origin. `resource_url` is never read.
 */
export function parseHarborEvent(body: unknown, format: HarborFormat): ParsedHarborEvent {
  if (!isObject(body)) throw new WebhookShapeError('', 'payload must be a JSON object')
  if (typeof body.type !== 'string') throw new WebhookShapeError('type', 'must be a string')
  if (body.type !== PUSH_TYPES[format]) return { targets: [], ignored: 1 }
  const dataKey = format === 'default' ? 'event_data' : 'data'
  const data = body[dataKey]
  if (!isObject(data)) throw new WebhookShapeError(dataKey, 'must be an object')
  const repository = data.repository
  if (!isObject(repository)) throw new WebhookShapeError(`${dataKey}.repository`, 'must be an object')
  const repo = parsed(`${dataKey}.repository.repo_full_name`, () => RepoName.parse(repository.repo_full_name))
  if (!Array.isArray(data.resources)) throw new WebhookShapeError(`${dataKey}.resources`, 'must be an array')
  const targets: PushTarget[] = data.resources.map((r: unknown, i: number) => {
    const at = `${dataKey}.resources[${i}]`
    if (!isObject(r)) throw new WebhookShapeError(at, 'must be an object')
    return { kind: 'manifest', ref: { repo, digest: parsed(`${at}.digest`, () => Digest.parse(r.digest)) } }
  })
  return { targets, ignored: 0 }
}
