import { Digest, RepoName, type PushTarget } from '../lib/core/domain.js'
import { isObject, parsed, WebhookShapeError } from './shape.js'


// Harbor's Kraken driver marshals Go structs without JSON tags, so keys arrive
// capitalized ("Events", "Target"); distribution itself sends lower case.
function field(o: Record<string, unknown>, name: string): unknown {
  const want = name.toLowerCase()
  for (const [k, v] of Object.entries(o)) if (k.toLowerCase() === want) return v
  return undefined
}


/**
 * Reads the body Harbor's Kraken preheat driver posts. Its MediaType is always
 * schema 2 whatever the artifact is, so every push becomes a manifest target and
 * the origin says whether it is an index. `Url` is never read.
 */
export function parseKrakenNotification(body: unknown): { targets: PushTarget[]; ignored: number } {
  if (!isObject(body)) throw new WebhookShapeError('', 'body must be a JSON object')
  const events = field(body, 'events')
  if (!Array.isArray(events)) throw new WebhookShapeError('Events', 'must be an array')
  const targets: PushTarget[] = []
  let ignored = 0
  events.forEach((ev: unknown, i: number) => {
    const at = `Events[${i}]`
    if (!isObject(ev)) throw new WebhookShapeError(at, 'must be an object')
    const action = field(ev, 'action')
    if (typeof action !== 'string') throw new WebhookShapeError(`${at}.Action`, 'must be a string')
    if (action !== 'push') {
      ignored++
      return
    }
    const target = field(ev, 'target')
    if (!isObject(target)) throw new WebhookShapeError(`${at}.Target`, 'must be an object')
    const repo = parsed(`${at}.Target.Repository`, () => RepoName.parse(field(target, 'repository')))
    const digest = parsed(`${at}.Target.Digest`, () => Digest.parse(field(target, 'digest')))
    targets.push({ kind: 'manifest', ref: { repo, digest } })
  })
  return { targets, ignored }
}
