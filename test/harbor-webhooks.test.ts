import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { WebhookShapeError } from '../webhooks/shape.js'
import { parseHarborEvent } from '../webhooks/harbor.js'
import { parseKrakenNotification } from '../webhooks/kraken.js'
import { preheatTargetOf } from '../sidecar/preheat-jobs.js'

// Payloads as docs/interop.md §2 and §3 quote them from Harbor's sources.
const DIGEST = 'sha256:dde8e930c7b6a490f728e66292bc9bce42efc9bbb5278bae40e4f30f6e00fe8c'
const eventData = () => ({
  resources: [{ digest: DIGEST, tag: 'latest', resource_url: 'harbor.dev/library/busybox:latest' }],
  repository: { date_created: 1677053165, name: 'busybox', namespace: 'library', repo_full_name: 'library/busybox', repo_type: 'public' },
})
const defaultPush = () => ({ type: 'PUSH_ARTIFACT', occur_at: 1678082303, operator: 'admin', event_data: eventData() })
const cloudEvent = (type = 'harbor.artifact.pushed') => ({
  specversion: '1.0', requestid: '2eedfab8-61d3-4f3c-8ec3-8f82d1ec4c84', id: '4b2f89a6-548d-4c12-9993-a1f5790b97d2',
  source: '/projects/1/webhook/policies/3', type, datacontenttype: 'application/json',
  time: '2023-03-06T06:08:43Z', data: eventData(),
  operator: 'robot$library+scanner-Trivy-51fe4548-bbe5-11ed-9217-0242ac14000d',
})
const krakenBody = () => ({
  Events: [{
    Id: 'abc', TimeStamp: '2025-01-01T00:00:00.123456789Z', Action: 'push',
    Target: { MediaType: 'application/vnd.docker.distribution.manifest.v2+json', Digest: DIGEST, Repository: 'library/busybox',
      Url: 'https://harbor.example.com/v2/library/busybox/manifests/latest', Tag: 'latest' },
    Request: null, Actor: null,
  }],
})

const rejects = (fn: () => unknown, pathRe: RegExp) =>
  assert.throws(fn, (err: unknown) => err instanceof WebhookShapeError && pathRe.test(err.message))

describe('harbor webhooks', () => {
  it('reads a Default PUSH_ARTIFACT as one manifest target from the repo and digest only', () => {
    const p = parseHarborEvent(defaultPush(), 'default')
    assert.equal(p.targets.length, 1)
    const t = p.targets[0]
    assert.equal(t.kind, 'manifest')
    assert.equal(t.ref.repo.toString(), 'library/busybox')
    assert.equal(t.ref.digest.toString(), DIGEST)
    assert.deepEqual(Object.keys(t.ref).sort(), ['digest', 'repo'])
  })

  it('reads a CloudEvents harbor.artifact.pushed, whose data is event_data', () => {
    const p = parseHarborEvent(cloudEvent(), 'cloudevents')
    assert.equal(p.targets[0].ref.digest.toString(), DIGEST)
    assert.equal(p.targets[0].ref.repo.toString(), 'library/busybox')
  })

  it('takes an untagged artifact, whose tag is its digest', () => {
    const body = defaultPush()
    body.event_data.resources[0].tag = DIGEST
    assert.equal(parseHarborEvent(body, 'default').targets.length, 1)
  })

  it('ignores other event types, and a type of the other format', () => {
    assert.deepEqual(parseHarborEvent(cloudEvent('harbor.artifact.pulled'), 'cloudevents'), { targets: [], ignored: 1 })
    assert.deepEqual(parseHarborEvent({ ...defaultPush(), type: 'DELETE_ARTIFACT' }, 'default'), { targets: [], ignored: 1 })
    assert.equal(parseHarborEvent(defaultPush(), 'cloudevents').ignored, 1)
  })

  it('rejects wrong shapes, naming the path', () => {
    rejects(() => parseHarborEvent([], 'default'), /object/)
    rejects(() => parseHarborEvent({}, 'default'), /^type/)
    rejects(() => parseHarborEvent({ type: 'PUSH_ARTIFACT' }, 'default'), /^event_data/)
    rejects(() => parseHarborEvent({ ...cloudEvent(), data: 'x' }, 'cloudevents'), /^data/)
    const noRepo = defaultPush() as Record<string, unknown>
    noRepo.event_data = { resources: [] }
    rejects(() => parseHarborEvent(noRepo, 'default'), /^event_data\.repository/)
    const badName = defaultPush()
    badName.event_data.repository.repo_full_name = '../etc'
    rejects(() => parseHarborEvent(badName, 'default'), /repository\.repo_full_name/)
    const badDigest = defaultPush()
    badDigest.event_data.resources[0].digest = 'sha256:../x'
    rejects(() => parseHarborEvent(badDigest, 'default'), /^event_data\.resources\[0\]\.digest/)
    rejects(() => parseHarborEvent({ ...defaultPush(), event_data: { ...eventData(), resources: {} } }, 'default'), /resources: must be an array/)
  })
})

describe('kraken notifications', () => {
  it('reads the capitalized body of Harbor\'s Kraken driver', () => {
    const p = parseKrakenNotification(krakenBody())
    assert.equal(p.targets.length, 1)
    assert.equal(p.targets[0].kind, 'manifest')
    assert.equal(p.targets[0].ref.repo.toString(), 'library/busybox')
    assert.equal(p.targets[0].ref.digest.toString(), DIGEST)
  })

  it('matches keys in any case and ignores non-push actions', () => {
    const lower = { events: [{ action: 'push', target: { digest: DIGEST, repository: 'a/b' } }, { ACTION: 'pull', TARGET: {} }] }
    const p = parseKrakenNotification(lower)
    assert.equal(p.targets.length, 1)
    assert.equal(p.ignored, 1)
  })

  it('rejects wrong shapes, naming the path', () => {
    rejects(() => parseKrakenNotification({}), /^Events/)
    rejects(() => parseKrakenNotification({ Events: [{ Action: 'push' }] }), /^Events\[0\]\.Target/)
    const bad = krakenBody()
    bad.Events[0].Target.Digest = 'nope'
    rejects(() => parseKrakenNotification(bad), /Target\.Digest/)
  })
})

describe('preheat URLs', () => {
  const ok = (url: string, origin: string, repo: string, reference: string) => {
    const t = preheatTargetOf(url, origin)
    assert.ok(t, url)
    assert.equal(t.repo.toString(), repo)
    assert.equal(t.reference, reference)
  }
  it('takes manifest URLs on the configured origin, by tag or digest', () => {
    ok('https://harbor.example.com/v2/library/busybox/manifests/latest', 'https://harbor.example.com', 'library/busybox', 'latest')
    ok('https://harbor.example.com:443/v2/a/b/c/manifests/v1.2_x-y', 'https://harbor.example.com', 'a/b/c', 'v1.2_x-y')
    ok(`http://reg:5000/v2/library/busybox/manifests/${DIGEST}`, 'http://reg:5000', 'library/busybox', DIGEST)
    ok('http://reg/prefix/v2/p/r/manifests/t', 'http://reg/prefix', 'p/r', 't')
  })
  it('refuses other hosts, schemes, ports, paths and malformed references', () => {
    const origin = 'https://harbor.example.com'
    for (const url of [
      'https://evil.example.com/v2/library/busybox/manifests/latest',
      'http://harbor.example.com/v2/library/busybox/manifests/latest',
      'https://harbor.example.com:8443/v2/library/busybox/manifests/latest',
      'https://user:pw@harbor.example.com/v2/library/busybox/manifests/latest',
      'https://harbor.example.com.evil.com/v2/library/busybox/manifests/latest',
      'https://harbor.example.com/v2/library/busybox/blobs/latest',
      'https://harbor.example.com/other/v2/library/busybox/manifests/latest',
      'https://harbor.example.com/v2/../etc/manifests/latest',
      'https://harbor.example.com/v2/library/busybox/manifests/sha256:abc',
      'https://harbor.example.com/v2/library/busybox/manifests/.hidden',
      'not a url',
    ]) assert.equal(preheatTargetOf(url, origin), undefined, url)
  })
})
